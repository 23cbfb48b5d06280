"""The diffusers pipeline behind a diffusion replica: the only module here that imports torch."""

import io
import logging
import time
from functools import cached_property

import numpy as np
import torch
from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image
from diffusers.utils import logging as diffusers_logging
from PIL import Image
from transformers.utils import logging as transformers_logging

from deployments.builtin_models import resolve_source
from deployments.diffusion.config import DiffusionConfig
from deployments.protocol import GenerationError, GenerationParams, GenerationResult
from deployments.torch_runtime import place

logger = logging.getLogger(__name__)
# Prompt truncation warnings echo whole token lists per request; our API bounds prompts instead.
diffusers_logging.set_verbosity_error()
diffusers_logging.disable_progress_bar()
transformers_logging.set_verbosity_error()
transformers_logging.disable_progress_bar()

_CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


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


def decode_init_image(params: GenerationParams) -> Image.Image:
    """The img2img input as RGB at the requested size; GenerationError when it cannot be read."""
    if params.init_image is None:
        raise GenerationError("img2img needs an init_image")
    try:
        with Image.open(io.BytesIO(params.init_image)) as image:
            image.draft("RGB", (params.width, params.height))
            return image.convert("RGB").resize((params.width, params.height), Image.Resampling.LANCZOS)
    except Exception as exc:
        raise GenerationError(f"init_image could not be decoded ({type(exc).__name__}: {exc})") from None


def is_out_of_memory(exc: Exception) -> bool:
    return isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in str(exc)


class DiffusionBackend:
    """Loads a pipeline once and turns lists of params into encoded images."""

    def __init__(self, config: DiffusionConfig):
        self.device, dtype = place(device=config.device, dtype=config.dtype, num_threads=config.num_threads)
        path = resolve_source(config.source, config.cache_dir)
        self.pipeline = AutoPipelineForText2Image.from_pretrained(path, dtype=dtype)
        self.pipeline.to(self.device)
        self.pipeline.set_progress_bar_config(disable=True)

    @cached_property
    def img2img(self):
        """The image-to-image pipeline over the already loaded components: no second copy of weights."""
        pipeline = AutoPipelineForImage2Image.from_pipe(self.pipeline)
        pipeline.set_progress_bar_config(disable=True)
        return pipeline

    def generate(self, batch: list[GenerationParams]) -> list[GenerationResult | Exception]:
        """Returns one result or exception per input, in input order.

        Inputs that agree on `batch_key` share one pipeline call; a batch holding several keys
        runs one call per key. A failing group is retried one by one so that a bad request
        (or a group too large for the device's memory) fails alone.
        """
        results: list[GenerationResult | Exception | None] = [None] * len(batch)
        init_images: dict[int, Image.Image] = {}
        groups: dict[tuple, list[int]] = {}
        for i, params in enumerate(batch):
            if params.mode == "img2img":
                try:
                    init_images[i] = decode_init_image(params)
                except GenerationError as exc:
                    results[i] = exc
                    continue
            groups.setdefault(params.batch_key, []).append(i)
        for indices in groups.values():
            try:
                outputs = self._run([batch[i] for i in indices], [init_images.get(i) for i in indices])
            except Exception as exc:
                self._after_failure(exc)
                if len(indices) == 1:
                    outputs = [exc]
                else:
                    logger.warning("batch of %d failed (%s); retrying one by one", len(indices), exc)
                    outputs = [self._run_one(batch[i], init_images.get(i)) for i in indices]
            for i, output in zip(indices, outputs):
                results[i] = output
        return results

    def _after_failure(self, exc: Exception) -> None:
        # CUDA keeps the failed call's blocks cached; without freeing them the retries OOM too.
        if is_out_of_memory(exc) and self.device.startswith("cuda"):
            torch.cuda.empty_cache()

    def _run_one(self, params: GenerationParams, init_image: Image.Image | None) -> GenerationResult | Exception:
        try:
            return self._run([params], [init_image])[0]
        except Exception as exc:
            self._after_failure(exc)
            return exc

    @torch.inference_mode()
    def _run(
        self, group: list[GenerationParams], init_images: list[Image.Image | None]
    ) -> list[GenerationResult | Exception]:
        first = group[0]
        started = time.perf_counter()
        # One CPU generator per request: its latents depend on its seed alone, wherever it
        # sits in the batch.
        generators = [torch.Generator(device="cpu").manual_seed(p.seed) for p in group]
        kwargs = {}
        if any(p.negative_prompt for p in group):
            kwargs["negative_prompt"] = [p.negative_prompt or "" for p in group]
        if first.mode == "img2img":
            pipeline = self.img2img
            kwargs.update(image=init_images, strength=first.strength)
        else:
            pipeline = self.pipeline
            kwargs.update(width=first.width, height=first.height)
        images = pipeline(
            prompt=[p.prompt for p in group],
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
                    batch_size=len(group),
                )
            )
        return outputs
