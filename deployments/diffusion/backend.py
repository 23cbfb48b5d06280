"""The diffusers pipeline behind a diffusion replica: the only module here that imports torch."""

import io
import logging
import time
from itertools import groupby

import numpy as np
import torch
from diffusers import AutoPipelineForText2Image
from diffusers.utils import logging as diffusers_logging
from PIL import Image
from transformers.utils import logging as transformers_logging

from deployments.builtin_models import resolve_source
from deployments.diffusion.config import DiffusionConfig
from deployments.protocol import GenerationError, GenerationParams, GenerationResult

logger = logging.getLogger(__name__)
# Prompt truncation warnings echo whole token lists per request; our API bounds prompts instead.
diffusers_logging.set_verbosity_error()
diffusers_logging.disable_progress_bar()
transformers_logging.set_verbosity_error()
transformers_logging.disable_progress_bar()

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def pick_device(requested: str) -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def encode_image(pixels: np.ndarray, output_format: str) -> bytes:
    """Encodes one HxWx3 uint8 array; a fresh Pillow image carries no metadata."""
    buffer = io.BytesIO()
    image = Image.fromarray(pixels, mode="RGB")
    if output_format == "png":
        image.save(buffer, format="PNG", compress_level=1)
    elif output_format == "jpeg":
        image.save(buffer, format="JPEG", quality=90)
    else:
        image.save(buffer, format="WEBP", quality=90)
    return buffer.getvalue()


class DiffusionBackend:
    """Loads a pipeline once and turns lists of params into encoded images."""

    def __init__(self, config: DiffusionConfig):
        self.device = pick_device(config.device)
        dtype = _DTYPES[config.dtype]
        if self.device == "cpu" and dtype is torch.float16:
            logger.warning("float16 is not supported on the CPU; loading float32 instead")
            dtype = torch.float32
        if config.num_threads and self.device == "cpu":
            torch.set_num_threads(config.num_threads)
        path = resolve_source(config.source, config.cache_dir)
        self.pipeline = AutoPipelineForText2Image.from_pretrained(path, dtype=dtype)
        self.pipeline.to(self.device)
        self.pipeline.set_progress_bar_config(disable=True)

    def generate(self, batch: list[GenerationParams]) -> list[GenerationResult | Exception]:
        """Returns one result or exception per input, in input order.

        Inputs that can share a pipeline call run together; a failing group is retried one by
        one so that a bad request fails alone.
        """
        results: list[GenerationResult | Exception | None] = [None] * len(batch)
        order = sorted(range(len(batch)), key=lambda i: batch[i].batch_key)
        for _, group in groupby(order, key=lambda i: batch[i].batch_key):
            indices = list(group)
            try:
                outputs = self._run([batch[i] for i in indices])
            except Exception as exc:
                if len(indices) == 1:
                    outputs = [exc]
                else:
                    logger.warning("batch of %d failed (%s); retrying one by one", len(indices), exc)
                    outputs = [self._run_one(batch[i]) for i in indices]
            for i, output in zip(indices, outputs):
                results[i] = output
        return results

    def _run_one(self, params: GenerationParams) -> GenerationResult | Exception:
        try:
            return self._run([params])[0]
        except Exception as exc:
            return exc

    @torch.inference_mode()
    def _run(self, group: list[GenerationParams]) -> list[GenerationResult | Exception]:
        first = group[0]
        started = time.perf_counter()
        # One CPU generator per request: its latents depend on its seed alone, wherever it
        # sits in the batch.
        generators = [torch.Generator(device="cpu").manual_seed(p.seed) for p in group]
        kwargs = {}
        if any(p.negative_prompt for p in group):
            kwargs["negative_prompt"] = [p.negative_prompt or "" for p in group]
        images = self.pipeline(
            prompt=[p.prompt for p in group],
            width=first.width,
            height=first.height,
            num_inference_steps=first.num_inference_steps,
            guidance_scale=first.guidance_scale,
            generator=generators,
            output_type="np",
            **kwargs,
        ).images
        elapsed = time.perf_counter() - started
        outputs: list[GenerationResult | Exception] = []
        for params, pixels in zip(group, images):
            if not np.isfinite(pixels).all():
                outputs.append(GenerationError("the model produced non-finite pixels"))
                continue
            data = encode_image((pixels * 255).round().clip(0, 255).astype(np.uint8), params.output_format)
            outputs.append(
                GenerationResult(
                    image=data,
                    content_type=_CONTENT_TYPES[params.output_format],
                    width=params.width,
                    height=params.height,
                    seed=params.seed,
                    inference_seconds=elapsed,
                )
            )
        return outputs
