"""Where a LoRA adapter's weights come from. Importable without torch."""

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from deployments.sources import BUILTIN_PREFIX


class AdapterSource(BaseModel):
    """One catalog adapter as a replica loads it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="`builtin:tiny-lora`, a Hugging Face repo id or a local directory.")
    weight_name: str | None = Field(default=None, description="The weights file inside `source` when it holds several.")


@dataclass(frozen=True)
class ResolvedAdapter:
    """What `load_lora_weights` takes: a directory or repo id, and the file inside it."""

    path: str
    weight_name: str | None


def resolve_adapter(adapter: AdapterSource, cache_dir: str | os.PathLike | None) -> ResolvedAdapter:
    """The directory (built-in adapters are built on first use) or repo id of `adapter`."""
    from deployments.builtin_models import builtin_model_path

    if adapter.source.startswith(BUILTIN_PREFIX):
        path = builtin_model_path(adapter.source.removeprefix(BUILTIN_PREFIX), cache_dir)
        return ResolvedAdapter(str(path), adapter.weight_name)
    local = Path(adapter.source).expanduser()
    return ResolvedAdapter(str(local) if local.is_dir() else adapter.source, adapter.weight_name)
