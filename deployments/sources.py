"""Model sources: what a catalog `source` string may name. Torch-free, so configs validate fast."""

import os
import re
from pathlib import Path

import platformdirs

BUILTIN_PREFIX = "builtin:"
BUILTIN_MODELS = ("tiny-sd", "tiny-inpaint", "tiny-upscaler")
BUILTIN_LMS = ("tiny-lm",)
BUILTIN_ADAPTERS = ("tiny-lora",)
BUILTIN_CHECKERS = ("stand-in-safety",)
_HF_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def default_cache_dir() -> Path:
    """`PIXELRAY_MODEL_CACHE_DIR`, else the user's cache dir (e.g. ~/.cache/pixelray/models)."""
    env = os.environ.get("PIXELRAY_MODEL_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("pixelray")) / "models"


def check_source(source: str, builtins: tuple[str, ...] = BUILTIN_MODELS) -> str:
    """Returns `source` when it names one of `builtins`, a local directory or a Hugging Face repo id."""
    allowed = ", ".join(BUILTIN_PREFIX + n for n in builtins)
    if source.startswith(BUILTIN_PREFIX):
        if source.removeprefix(BUILTIN_PREFIX) not in builtins:
            raise ValueError(f"unknown built-in model {source!r}; built-in models here are: {allowed}")
        return source
    if Path(source).expanduser().is_dir() or _HF_REPO_ID.match(source):
        return source
    raise ValueError(
        f"model source {source!r} is neither a built-in model ({allowed}), an existing local "
        "directory, nor a Hugging Face repo id like 'stabilityai/sd-turbo'"
    )
