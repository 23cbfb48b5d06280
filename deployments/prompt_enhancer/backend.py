"""The causal LM behind a prompt-enhancer replica: the only module here that imports torch."""

import logging

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as transformers_logging

from deployments.builtin_models import resolve_source
from deployments.prompt_enhancer.config import PromptEnhancerConfig
from deployments.protocol import EnhanceParams
from deployments.torch_runtime import place

logger = logging.getLogger(__name__)
transformers_logging.set_verbosity_error()
transformers_logging.disable_progress_bar()

SYSTEM_PROMPT = (
    "You rewrite short ideas into one detailed prompt for an image generator. Keep the subject, "
    "add setting, lighting, composition and quality terms in a {tone} tone. Reply with the prompt only."
)


class PromptEnhancerBackend:
    """Loads a tokenizer and causal LM once and writes one raw text per idea."""

    def __init__(self, config: PromptEnhancerConfig):
        self._config = config
        self.device, dtype = place(device=config.device, dtype=config.dtype, num_threads=config.num_threads)
        path = resolve_source(config.source, config.cache_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        # Decoder-only models continue from the right edge, so batches pad on the left.
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(self.device).eval()  # type: ignore[arg-type]  # transformers types to()'s wrapper, not the call
        self.uses_chat_template = bool(getattr(self.tokenizer, "chat_template", None))

    def render(self, params: EnhanceParams) -> str:
        """The model input: the tokenizer's chat template when it has one, else a plain completion cue."""
        system = SYSTEM_PROMPT.format(tone=params.tone)
        if self.uses_chat_template:
            messages = [{"role": "system", "content": system}, {"role": "user", "content": params.prompt}]
            rendered = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            # tokenize=False returns the text; the declared union covers the token-id forms.
            assert isinstance(rendered, str)
            return rendered
        return f"{system}\n\nIdea: {params.prompt}\nPrompt:"

    def enhance(self, batch: list[EnhanceParams]) -> list[str | Exception]:
        """Returns one raw text or exception per input, in input order.

        Unseeded inputs share one generate call. A seeded input runs alone under its seed:
        sampled tokens depend on the whole batch's random draws, so only a solo run is reproducible.
        """
        results: dict[int, str | Exception] = {}
        unseeded = [i for i, p in enumerate(batch) if p.seed is None]
        groups = ([(unseeded, None)] if unseeded else []) + [
            ([i], p.seed) for i, p in enumerate(batch) if p.seed is not None
        ]
        for indices, seed in groups:
            try:
                texts: list[str | Exception] = list(self._run([batch[i] for i in indices], seed=seed))
            except Exception as exc:
                if len(indices) == 1:
                    texts = [exc]
                else:
                    logger.warning("batch of %d failed (%s); retrying one by one", len(indices), exc)
                    texts = [self._run_one(batch[i]) for i in indices]
            for i, text in zip(indices, texts, strict=True):
                results[i] = text
        return [results[i] for i in range(len(batch))]

    def _run_one(self, params: EnhanceParams) -> str | Exception:
        try:
            return self._run([params], seed=None)[0]
        except Exception as exc:
            return exc

    @torch.inference_mode()
    def _run(self, group: list[EnhanceParams], *, seed: int | None) -> list[str]:
        inputs = self.tokenizer(
            [self.render(p) for p in group],
            return_tensors="pt",
            padding=True,
            # A chat template already wrote the special tokens.
            add_special_tokens=not self.uses_chat_template,
        ).to(self.device)
        if seed is not None:
            torch.manual_seed(seed)
        sampling = self._config.temperature > 0
        output = self.model.generate(
            **inputs,
            max_new_tokens=self._config.max_new_tokens,
            do_sample=sampling,
            temperature=self._config.temperature if sampling else None,
            top_p=self._config.top_p if sampling else None,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        written = output[:, inputs["input_ids"].shape[1] :]
        return self.tokenizer.batch_decode(written, skip_special_tokens=True)
