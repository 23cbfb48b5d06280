"""Safety checkers: a diffusion replica asks one about every image it draws, before encoding it.

The replica only reports the verdict (`GenerationResult.nsfw`); what follows from it (return the
image flagged, or withhold it and refund it) is the catalog's policy, applied by the ingress.
Importable without torch (the stand-in's names are used by configs and tests); the real checker
loads it.
"""

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from deployments.protocol import GenerationParams
from deployments.sources import BUILTIN_PREFIX

STAND_IN_CHECKER = "builtin:stand-in-safety"
# What the stand-in looks for in a request's prompt. Bracketed, so no ordinary prompt holds it.
STAND_IN_MARKER = "[unsafe]"


class SafetyChecker(Protocol):
    def check(self, images: list[np.ndarray], batch: list[GenerationParams]) -> list[bool]:
        """Whether each image (HxWx3 floats in 0–1, drawn for the request at the same position
        of `batch`) is unsafe."""
        ...


class StandInSafetyChecker:
    """Not a safety checker: a stand-in whose verdict the request decides, so that tests and the
    built-in models exercise the policies without a classifier. It flags an image when its
    request's prompt contains `STAND_IN_MARKER` and looks at no pixel."""

    def check(self, images: list[np.ndarray], batch: list[GenerationParams]) -> list[bool]:
        return [STAND_IN_MARKER in params.prompt for params in batch]


class DiffusersSafetyChecker:
    """diffusers' StableDiffusionSafetyChecker (the image's CLIP embedding compared with fixed
    NSFW concept embeddings) and the CLIP feature extractor stored beside it, as in
    CompVis/stable-diffusion-safety-checker."""

    def __init__(self, path: str, *, device: str, dtype: Any):
        from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
        from transformers import AutoImageProcessor

        self._device, self._dtype = device, dtype
        # Auto: the CLIP processor of whichever image backend is installed (torchvision or Pillow).
        self._extractor = AutoImageProcessor.from_pretrained(path)
        self._model = StableDiffusionSafetyChecker.from_pretrained(path, dtype=dtype).to(device).eval()  # type: ignore[arg-type]  # transformers types the wrapped `to` as unbound: self is taken for the device

    def check(self, images: list[np.ndarray], batch: list[GenerationParams]) -> list[bool]:
        import torch

        pixels = [(np.nan_to_num(image) * 255).round().clip(0, 255).astype(np.uint8) for image in images]
        clip_input = self._extractor(pixels, return_tensors="pt").pixel_values.to(self._device, self._dtype)
        with torch.inference_mode():
            # It blacks out what it flags, in place: it gets copies; the policy decides what is shown.
            _, flagged = self._model(clip_input=clip_input, images=[image.copy() for image in images])
        return [bool(flag) for flag in flagged]


def load_safety_checker(source: str, *, device: str, dtype: Any) -> SafetyChecker:
    """The checker a catalog's `safety.checker` names: the stand-in, a local directory or a Hub repo id."""
    if source == STAND_IN_CHECKER:
        return StandInSafetyChecker()
    if source.startswith(BUILTIN_PREFIX):
        raise ValueError(f"unknown built-in safety checker {source!r}; the only one is {STAND_IN_CHECKER}")
    local = Path(source).expanduser()
    return DiffusersSafetyChecker(str(local) if local.is_dir() else source, device=device, dtype=dtype)
