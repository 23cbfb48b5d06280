"""Builds the built-in tiny models from fixed seeds and saves them like any Hugging Face model.

The weights are random, so the images are noise and the text gibberish: these models exist so that the whole system,
loader included, runs and is tested offline on a CPU.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

from deployments.builtin_extras import build_tiny_inpaint, build_tiny_lora, build_tiny_upscaler
from deployments.sources import BUILTIN_PREFIX, default_cache_dir

TINY_SD_SEED = 0
TINY_LM_SEED = 0
_CLIP_MAX_LENGTH = 77
# A built model lives in a directory named for its version, so a cache built by an older
# version is never loaded: bump a version whenever its builder changes what it writes.
# The extras (builtin_extras.py) are built from tiny-sd: bump them with it.
BUILD_VERSIONS = {"tiny-sd": 2, "tiny-lm": 1, "tiny-inpaint": 2, "tiny-lora": 2, "tiny-upscaler": 2}


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map, which CLIP's BPE vocabulary uses."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, map(chr, chars), strict=True))


def _write_byte_level_clip_tokenizer(path: Path) -> int:
    """A CLIP BPE tokenizer with one token per byte (and its end-of-word form) and no merges."""
    path.mkdir(parents=True, exist_ok=True)
    vocab: dict[str, int] = {}
    for char in _bytes_to_unicode().values():
        vocab[char] = len(vocab)
    for char in _bytes_to_unicode().values():
        vocab[char + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (path / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    (path / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "CLIPTokenizer",
                "model_max_length": _CLIP_MAX_LENGTH,
                "bos_token": "<|startoftext|>",
                "eos_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>",
                "pad_token": "<|endoftext|>",
            }
        ),
        encoding="utf-8",
    )
    return len(vocab)


def _build_tiny_sd(target: Path) -> None:
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab_size = _write_byte_level_clip_tokenizer(target / "_tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(target / "_tokenizer")
    # Each component is seeded on its own so that its weights do not depend on build order.
    torch.manual_seed(TINY_SD_SEED)
    # Stable Diffusion's shape at a fraction of its width: a UNet with cross-attention at its
    # deepest level and a four-level VAE that downsamples by 8, so a 512x512 image denoises
    # 64x64 latents as in SD 1.5 and costs seconds on a CPU.
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32, 64),
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=64,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
    )
    torch.manual_seed(TINY_SD_SEED + 1)
    vae = AutoencoderKL(
        block_out_channels=(8, 16, 32, 32),
        layers_per_block=1,
        norm_num_groups=8,
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        sample_size=512,
    )
    torch.manual_seed(TINY_SD_SEED + 2)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=vocab_size - 2,
            eos_token_id=vocab_size - 1,
            pad_token_id=vocab_size - 1,
            hidden_size=32,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=5,
            vocab_size=vocab_size,
            max_position_embeddings=_CLIP_MAX_LENGTH,
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipeline = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(target, safe_serialization=True)  # type: ignore[attr-defined]  # mypy misses DiffusionPipeline.save_pretrained through diffusers' mixins
    shutil.rmtree(target / "_tokenizer")


# A chat template in the common system/user/assistant shape, so the enhancer takes the same
# chat path with the tiny model as with a real instruction-tuned one.
_TINY_LM_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _build_tiny_lm(target: Path) -> None:
    """A 2-layer Llama with a byte-level BPE tokenizer (one token per byte, no merges)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    specials = ["<s>", "</s>", "<pad>"]
    vocab = {token: i for i, token in enumerate(specials)}
    for char in _bytes_to_unicode().values():
        vocab[char] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>", model_max_length=4096
    )
    tokenizer.chat_template = _TINY_LM_CHAT_TEMPLATE
    torch.manual_seed(TINY_LM_SEED)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=4096,
            bos_token_id=vocab["<s>"],
            eos_token_id=vocab["</s>"],
            pad_token_id=vocab["<pad>"],
        )
    )
    model.generation_config.pad_token_id = vocab["<pad>"]
    tokenizer.save_pretrained(target)
    model.save_pretrained(target, safe_serialization=True)


# builder, and the file whose presence marks a finished build.
_BUILDERS = {"tiny-sd": (_build_tiny_sd, "model_index.json"), "tiny-lm": (_build_tiny_lm, "config.json")}
_BUILDERS["tiny-inpaint"] = (build_tiny_inpaint, "model_index.json")
_BUILDERS["tiny-lora"] = (build_tiny_lora, "pytorch_lora_weights.safetensors")
_BUILDERS["tiny-upscaler"] = (build_tiny_upscaler, "model_index.json")


def builtin_model_path(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Returns the directory of built-in model `name` at its current build version, building it
    on first use and removing the builds of other versions.

    The build goes to a temporary directory that is renamed into place, so replicas starting
    together never load a half-written model.
    """
    build, marker = _BUILDERS[name]
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    target = root / f"{name}-v{BUILD_VERSIONS[name]}"
    if (target / marker).exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        build(scratch)
        try:
            scratch.rename(target)
        except OSError:
            if not (target / marker).exists():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _remove_other_builds(root, name, keep=target)
    return target


def _remove_other_builds(root: Path, name: str, *, keep: Path) -> None:
    """Older builds (unversioned `name/` before versions existed, or `name-vN/`) only take space."""
    for stale in [root / name, *root.glob(f"{name}-v*")]:
        if stale != keep and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def resolve_source(source: str, cache_dir: str | os.PathLike | None = None) -> str:
    """What `from_pretrained` should load for a catalog source: a directory or a repo id."""
    if source.startswith(BUILTIN_PREFIX):
        return str(builtin_model_path(source.removeprefix(BUILTIN_PREFIX), cache_dir))
    return str(Path(source).expanduser()) if Path(source).expanduser().is_dir() else source
