"""Where a replica runs torch: device, weights dtype and CPU threads, the same for every model."""

import logging

import torch

logger = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def place(*, device: str, dtype: str, num_threads: int | None) -> tuple[str, torch.dtype]:
    """The device (`auto`: CUDA when visible) and dtype to load with; sets CPU threads."""
    chosen = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    weights = _DTYPES[dtype]
    if chosen == "cpu" and weights is torch.float16:
        logger.warning("float16 is not supported on the CPU; loading float32 instead")
        weights = torch.float32
    if num_threads and chosen == "cpu":
        torch.set_num_threads(num_threads)
    return chosen, weights
