"""The diffusers pipeline behind a diffusion replica: the only module here that imports torch."""

import inspect
import io
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np
import torch
from diffusers import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    StableDiffusionUpscalePipeline,
)
from diffusers.utils import logging as diffusers_logging
from PIL import Image
from transformers.utils import logging as transformers_logging

from deployments.builtin_models import resolve_source
from deployments.diffusion.adapters import resolve_adapter
from deployments.diffusion.config import DiffusionConfig
from deployments.diffusion.safety import load_safety_checker
from deployments.protocol import GenerationAbandoned, GenerationError, GenerationParams, GenerationResult
from deployments.torch_runtime import place

logger = logging.getLogger(__name__)
# Prompt truncation warnings echo whole token lists per request; our API bounds prompts instead.
diffusers_logging.set_verbosity_error()
diffusers_logging.disable_progress_bar()
transformers_logging.set_verbosity_error()
transformers_logging.disable_progress_bar()

_CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
# Stable Diffusion's 4 latent channels -> approximate RGB in -1..1: a fixed linear map (the one
# A1111's "Approx cheap" and ComfyUI's latent previews use), so a preview needs no VAE decode.
_LATENT_RGB = torch.tensor(
    [[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350], [-0.2829, 0.1762, 0.2721], [-0.2120, -0.2616, -0.7177]]
)
# Called from the pipeline's thread with (index in the batch, steps done, steps in all, preview).
StepHook = Callable[[int, int, int, bytes | None], None]


def latent_preview(latents: torch.Tensor, params: GenerationParams) -> bytes | None:
    """An encoded preview of one request's latents at its output size; None for latents that
    are not 4-channel SD latents (FLUX packs its own)."""
    if latents.ndim != 3 or latents.shape[0] != _LATENT_RGB.shape[0]:
        return None
    rgb = torch.einsum("chw,cr->hwr", latents.detach().float().cpu(), _LATENT_RGB)
    pixels = ((rgb + 1) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    image = Image.fromarray(pixels, mode="RGB").resize((params.width, params.height), Image.Resampling.BILINEAR)
    return encode_image(np.asarray(image), params.output_format)


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
    """The input image as RGB at the requested size (÷ `scale` for an upscale); GenerationError
    when it cannot be read."""
    size = (params.width // params.scale, params.height // params.scale)
    return _decode(params.init_image, name="init_image", mode="RGB", size=size)


def decode_mask(params: GenerationParams) -> Image.Image:
    """The inpainting mask as greyscale (white: redraw) at the requested size."""
    return _decode(params.mask_image, name="mask_image", mode="L", size=(params.width, params.height))


def _decode(data: bytes | None, *, name: str, mode: str, size: tuple[int, int]) -> Image.Image:
    if data is None:
        raise GenerationError(f"this mode needs {name}")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", size)
            return image.convert(mode).resize(size, Image.Resampling.LANCZOS)
    except Exception as exc:
        raise GenerationError(f"{name} could not be decoded ({type(exc).__name__}: {exc})") from None


def resize_pixels(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """HxWx3 floats in 0–1 at `size` (width, height): a x4 upscaler's output brought to x2.
    Non-finite pixels stay as they are, for the check that fails them."""
    if (pixels.shape[1], pixels.shape[0]) == size or not np.isfinite(pixels).all():
        return pixels
    image = Image.fromarray((pixels * 255).round().clip(0, 255).astype(np.uint8), mode="RGB")
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS), dtype=np.float32) / 255.0


def paste_outside_mask(drawn: np.ndarray, original: Image.Image, mask: Image.Image) -> np.ndarray:
    """`drawn` (HxWx3 floats in 0–1) inside the mask, `original` outside it, blended on grey edges.

    A pipeline redraws the whole frame through the VAE, which never returns the input exactly;
    pasting the original back keeps what the user did not ask to change (as OpenAI's edits and
    A1111's inpainting do).
    """
    weight = np.asarray(mask, dtype=np.float32)[..., None] / 255.0
    return drawn * weight + np.asarray(original, dtype=np.float32) / 255.0 * (1.0 - weight)


def is_out_of_memory(exc: Exception) -> bool:
    return isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in str(exc)


class DiffusionBackend:
    """Loads a pipeline once and turns lists of params into encoded images."""

    def __init__(self, config: DiffusionConfig):
        self.device, dtype = place(device=config.device, dtype=config.dtype, num_threads=config.num_threads)
        self._config = config
        path = resolve_source(config.source, config.cache_dir)
        # AutoPipeline has no upscaling task: an upscaler is loaded as what it is.
        loader = StableDiffusionUpscalePipeline if config.upscaler else AutoPipelineForText2Image
        self.pipeline = loader.from_pretrained(path, dtype=dtype)
        self.pipeline.to(self.device)
        self.pipeline.set_progress_bar_config(disable=True)
        self._safety = (
            load_safety_checker(config.safety_checker, device=self.device, dtype=dtype)
            if config.safety_checker
            else None
        )
        # Denoising steps run by every pipeline call so far (a step of a batch counts once).
        self.steps_run = 0
        # Loading or deleting an adapter rewrites the UNet's layers: never while a call runs.
        self._pipeline_lock = threading.Lock()
        # Adapters on the pipeline, and how many of the replica's loaded adapter sets hold each.
        self._loaded_adapters: set[str] = set()
        self._adapter_holders: Counter[str] = Counter()

    @cached_property
    def img2img(self):
        """The image-to-image pipeline over the already loaded components: no second copy of weights."""
        pipeline = AutoPipelineForImage2Image.from_pipe(self.pipeline)
        pipeline.set_progress_bar_config(disable=True)
        return pipeline

    @cached_property
    def inpaint(self):
        """The inpainting pipeline over the loaded components. A 9-channel UNet (an inpainting
        model) sees the mask and the masked image; a 4-channel one blends them into its latents."""
        pipeline = AutoPipelineForInpainting.from_pipe(self.pipeline)
        pipeline.set_progress_bar_config(disable=True)
        return pipeline

    def load_adapters(self, slugs: list[str]) -> list[str]:
        """Holds the catalog adapters `slugs` on the base pipeline; returns those it had to load."""
        loaded = []
        with self._pipeline_lock:
            for slug in slugs:
                if self._ensure_loaded(slug):
                    loaded.append(slug)
                self._adapter_holders[slug] += 1
        return loaded

    def unload_adapters(self, slugs: list[str]) -> None:
        """Releases one hold on each of `slugs`; adapters nobody holds leave the pipeline."""
        with self._pipeline_lock:
            for slug in slugs:
                self._adapter_holders[slug] -= 1
            for slug in sorted(self._loaded_adapters):
                if self._adapter_holders[slug] <= 0:
                    del self._adapter_holders[slug]
                    self._loaded_adapters.discard(slug)
                    self.pipeline.delete_adapters(slug)

    def _ensure_loaded(self, slug: str) -> bool:
        """Loads `slug` unless it is on the pipeline; whether it did. Called under the pipeline lock."""
        if slug in self._loaded_adapters:
            return False
        source = resolve_adapter(self._config.adapters[slug], self._config.cache_dir)
        self.pipeline.load_lora_weights(source.path, weight_name=source.weight_name, adapter_name=slug)
        self._loaded_adapters.add(slug)
        return True

    def generate(
        self,
        batch: list[GenerationParams],
        *,
        abandoned: Callable[[int], bool] = lambda i: False,
        on_step: StepHook | None = None,
    ) -> list[GenerationResult | Exception]:
        """Returns one result or exception per input, in input order; `on_step` hears of every
        denoising step of every input (with a preview every `preview_every` steps).

        Inputs that agree on `batch_key` share one pipeline call; a batch holding several keys
        runs one call per key. A failing group is retried one by one so that a bad request
        (or a group too large for the device's memory) fails alone. `abandoned(i)` says whether
        input i's caller has gone: a call whose every input is abandoned stops at its next
        denoising step and its inputs get `GenerationAbandoned`; a call with one caller left runs on.
        """
        results: dict[int, GenerationResult | Exception] = {}
        inputs: dict[int, _Inputs] = {}
        groups: dict[tuple, list[int]] = {}
        for i, params in enumerate(batch):
            try:
                inputs[i] = _Inputs.decode(params)
            except GenerationError as exc:
                results[i] = exc
                continue
            groups.setdefault(params.batch_key, []).append(i)
        for indices in groups.values():
            try:
                outputs = self._run(
                    [batch[i] for i in indices], [inputs[i] for i in indices], indices, abandoned, on_step
                )
            except GenerationAbandoned as exc:
                outputs = [exc] * len(indices)
            except Exception as exc:
                self._after_failure(exc)
                if len(indices) == 1:
                    outputs = [exc]
                else:
                    logger.warning("batch of %d failed (%s); retrying one by one", len(indices), exc)
                    outputs = [self._run_one(batch[i], inputs[i], i, abandoned, on_step) for i in indices]
            for i, output in zip(indices, outputs, strict=False):
                results[i] = output
        return [results[i] for i in range(len(batch))]

    def _after_failure(self, exc: Exception) -> None:
        # CUDA keeps the failed call's blocks cached; without freeing them the retries OOM too.
        if is_out_of_memory(exc) and self.device.startswith("cuda"):
            torch.cuda.empty_cache()

    def _run_one(
        self,
        params: GenerationParams,
        inputs: "_Inputs",
        index: int,
        abandoned: Callable[[int], bool],
        on_step: StepHook | None,
    ) -> GenerationResult | Exception:
        try:
            return self._run([params], [inputs], [index], abandoned, on_step)[0]
        except Exception as exc:
            self._after_failure(exc)
            return exc

    @torch.inference_mode()
    def _run(
        self,
        group: list[GenerationParams],
        inputs: list["_Inputs"],
        indices: list[int],
        abandoned: Callable[[int], bool],
        on_step: StepHook | None,
    ) -> list[GenerationResult | Exception]:
        first = group[0]
        if all(abandoned(i) for i in indices):
            raise GenerationAbandoned("every caller left before the call started")
        started = time.perf_counter()
        # One CPU generator per request: its latents depend on its seed alone, wherever it
        # sits in the batch.
        generators = [torch.Generator(device="cpu").manual_seed(p.seed) for p in group]
        kwargs: dict[str, Any] = {}
        if any(p.negative_prompt for p in group):
            kwargs["negative_prompt"] = [p.negative_prompt or "" for p in group]
        if first.mode == "img2img":
            pipeline = self.img2img
            kwargs.update(image=[i.image for i in inputs], strength=first.strength)
        elif first.mode == "inpaint":
            pipeline = self.inpaint
            kwargs.update(
                image=[i.image for i in inputs],
                mask_image=[i.mask for i in inputs],
                strength=first.strength,
                width=first.width,
                height=first.height,
            )
        elif first.mode == "upscale":
            pipeline = self.pipeline
            kwargs.update(image=[i.image for i in inputs])
        else:
            pipeline = self.pipeline
            kwargs.update(width=first.width, height=first.height)
        kwargs.update(self._step_callback(pipeline, group, indices, abandoned, on_step))
        with self._pipeline_lock:
            self._activate_adapters(first.adapters)
            images = pipeline(
                prompt=[p.prompt for p in group],
                num_inference_steps=first.num_inference_steps,
                guidance_scale=first.guidance_scale,
                generator=generators,
                output_type="np",
                **kwargs,
            ).images
        if first.mode == "inpaint":
            images = [i.paste_outside_mask(drawn) for drawn, i in zip(images, inputs, strict=False)]
        if first.mode == "upscale":
            images = [resize_pixels(pixels, (first.width, first.height)) for pixels in images]
        verdicts = self._safety.check(list(images), group) if self._safety else [None] * len(group)
        elapsed = time.perf_counter() - started
        outputs: list[GenerationResult | Exception] = []
        for params, pixels, nsfw in zip(group, images, verdicts, strict=False):
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
                    nsfw=nsfw,
                )
            )
        return outputs

    def _step_callback(
        self,
        pipeline,
        group: list[GenerationParams],
        indices: list[int],
        abandoned: Callable[[int], bool],
        on_step: StepHook | None,
    ) -> dict:
        """The `callback_on_step_end` argument: after each denoising step it counts the step,
        ends the call when every caller of it has left, and reports each request's step (with
        its preview when due) to `on_step`. Pipelines without step-end callbacks (diffusers'
        upscaler) get none: they neither stop early nor report progress.

        Raising ends the call at once; diffusers' own `_interrupt` would skip the remaining steps
        but still decode the latents, which costs more than a step at large sizes.
        """
        if "callback_on_step_end" not in inspect.signature(pipeline.__call__).parameters:
            return {}

        def on_step_end(pipeline, step: int, _timestep, tensors: dict) -> dict:
            self.steps_run += 1
            if all(abandoned(i) for i in indices):
                raise GenerationAbandoned("every caller left; stopped after a denoising step")
            if on_step is not None:
                total, done, latents = pipeline.num_timesteps, step + 1, tensors["latents"]
                for position, (params, index) in enumerate(zip(group, indices, strict=False)):
                    due = params.preview_every and done % params.preview_every == 0 and done < total
                    on_step(index, done, total, latent_preview(latents[position], params) if due else None)
            return tensors

        return {"callback_on_step_end": on_step_end}

    def _activate_adapters(self, adapters: tuple[tuple[str, float], ...]) -> None:
        """Makes exactly `adapters` active at their weights; called under the pipeline lock.

        An adapter evicted between its request's arrival and its batch's turn is loaded again
        here rather than failing the request.
        """
        for slug, _ in adapters:
            self._ensure_loaded(slug)
        if not self._loaded_adapters:
            return
        if not adapters:
            self.pipeline.disable_lora()
            return
        self.pipeline.enable_lora()
        self.pipeline.set_adapters([slug for slug, _ in adapters], adapter_weights=[w for _, w in adapters])


class _Inputs:
    """A request's decoded input images (none for text2img)."""

    def __init__(self, image: Image.Image | None = None, mask: Image.Image | None = None):
        self.image = image
        self.mask = mask

    def paste_outside_mask(self, drawn: np.ndarray) -> np.ndarray:
        # `decode` gives an inpaint request both images; the check narrows them for the type checker.
        if self.image is None or self.mask is None:
            raise GenerationError("inpainting needs both an image and a mask")
        return paste_outside_mask(drawn, self.image, self.mask)

    @classmethod
    def decode(cls, params: GenerationParams) -> "_Inputs":
        if params.mode in ("img2img", "upscale"):
            return cls(decode_init_image(params))
        if params.mode == "inpaint":
            return cls(decode_init_image(params), decode_mask(params))
        return cls()
