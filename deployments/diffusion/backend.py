"""The diffusers pipeline behind a diffusion replica: the only module here that imports torch."""

import inspect
import io
import logging
import time
from collections.abc import Callable
from functools import cached_property

import numpy as np
import torch
from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image
from diffusers.utils import logging as diffusers_logging
from PIL import Image
from transformers.utils import logging as transformers_logging

from deployments.builtin_models import resolve_source
from deployments.diffusion.config import DiffusionConfig
from deployments.protocol import GenerationAbandoned, GenerationError, GenerationParams, GenerationResult
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


def _every(abandoned: Callable[[int], bool], indices: list[int]) -> Callable[[], bool]:
    return lambda: all(abandoned(i) for i in indices)


class DiffusionBackend:
    """Loads a pipeline once and turns lists of params into encoded images."""

    def __init__(self, config: DiffusionConfig):
        self.device, dtype = place(device=config.device, dtype=config.dtype, num_threads=config.num_threads)
        path = resolve_source(config.source, config.cache_dir)
        self.pipeline = AutoPipelineForText2Image.from_pretrained(path, dtype=dtype)
        self.pipeline.to(self.device)
        self.pipeline.set_progress_bar_config(disable=True)
        # Denoising steps run by every pipeline call so far (a step of a batch counts once).
        self.steps_run = 0

    @cached_property
    def img2img(self):
        """The image-to-image pipeline over the already loaded components: no second copy of weights."""
        pipeline = AutoPipelineForImage2Image.from_pipe(self.pipeline)
        pipeline.set_progress_bar_config(disable=True)
        return pipeline

    def generate(
        self, batch: list[GenerationParams], *, abandoned: Callable[[int], bool] = lambda i: False
    ) -> list[GenerationResult | Exception]:
        """Returns one result or exception per input, in input order.

        Inputs that agree on `batch_key` share one pipeline call; a batch holding several keys
        runs one call per key. A failing group is retried one by one so that a bad request
        (or a group too large for the device's memory) fails alone. `abandoned(i)` says whether
        input i's caller has gone: a call whose every input is abandoned stops at its next
        denoising step and its inputs get `GenerationAbandoned`; a call with one caller left runs on.
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
                outputs = self._run(
                    [batch[i] for i in indices], [init_images.get(i) for i in indices], _every(abandoned, indices)
                )
            except GenerationAbandoned as exc:
                outputs = [exc] * len(indices)
            except Exception as exc:
                self._after_failure(exc)
                if len(indices) == 1:
                    outputs = [exc]
                else:
                    logger.warning("batch of %d failed (%s); retrying one by one", len(indices), exc)
                    outputs = [self._run_one(batch[i], init_images.get(i), _every(abandoned, [i])) for i in indices]
            for i, output in zip(indices, outputs):
                results[i] = output
        return results

    def _after_failure(self, exc: Exception) -> None:
        # CUDA keeps the failed call's blocks cached; without freeing them the retries OOM too.
        if is_out_of_memory(exc) and self.device.startswith("cuda"):
            torch.cuda.empty_cache()

    def _run_one(
        self, params: GenerationParams, init_image: Image.Image | None, gone: Callable[[], bool]
    ) -> GenerationResult | Exception:
        try:
            return self._run([params], [init_image], gone)[0]
        except Exception as exc:
            self._after_failure(exc)
            return exc

    @torch.inference_mode()
    def _run(
        self, group: list[GenerationParams], init_images: list[Image.Image | None], gone: Callable[[], bool]
    ) -> list[GenerationResult | Exception]:
        first = group[0]
        if gone():
            raise GenerationAbandoned("every caller left before the call started")
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
        kwargs.update(self._step_callback(pipeline, gone))
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

    def _step_callback(self, pipeline, gone: Callable[[], bool]) -> dict:
        """The `callback_on_step_end` argument that counts steps and ends a call nobody waits for.

        Raising ends the call at once; diffusers' own `_interrupt` would skip the remaining steps
        but still decode the latents, which costs more than a step at large sizes.
        """
        if "callback_on_step_end" not in inspect.signature(pipeline.__call__).parameters:
            return {}

        def on_step_end(_pipeline, _step: int, _timestep, callback_kwargs: dict) -> dict:
            self.steps_run += 1
            if gone():
                raise GenerationAbandoned("every caller left; stopped after a denoising step")
            return callback_kwargs

        return {"callback_on_step_end": on_step_end}
