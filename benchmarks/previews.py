"""What live previews cost the batch: raw pipeline throughput with every request streaming a
preview every 4 steps (and hearing of every step) against the same batches without.

    python -m benchmarks.previews [--size 64] [--batch 8] [--steps 8] [--rounds 5]

Rounds alternate the two, so a machine whose load drifts weighs on both alike.
"""

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.common import TORCH_THREADS, machine
from benchmarks.raw_pipeline import batch_of, load_backend

PREVIEW_EVERY = 4


def seconds_per_batch(backend, batch, *, previews: bool) -> float:
    if previews:
        batch = [replace(params, preview_every=PREVIEW_EVERY) for params in batch]
        hook = lambda index, step, total, preview: None  # noqa: E731 - the replica's hook only enqueues
    else:
        hook = None
    started = time.perf_counter()
    backend.generate(batch, on_step=hook)
    return time.perf_counter() - started


def measure(backend, *, size: int, batch: int, steps: int, rounds: int) -> tuple[float, float]:
    """(images/s without previews, images/s with them), medians over `rounds`."""
    work = [replace(params, num_inference_steps=steps) for params in batch_of(size, batch)]
    seconds_per_batch(backend, work, previews=True)
    plain, previewed = [], []
    for _ in range(rounds):
        plain.append(seconds_per_batch(backend, work, previews=False))
        previewed.append(seconds_per_batch(backend, work, previews=True))
    return batch / statistics.median(plain), batch / statistics.median(previewed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    print(f"machine: {machine()}; torch threads {TORCH_THREADS}")
    with tempfile.TemporaryDirectory() as cache:
        backend = load_backend(Path(cache))
        plain, previewed = measure(
            backend, size=options.size, batch=options.batch, steps=options.steps, rounds=options.rounds
        )
    print(
        f"{options.size}x{options.size} batch {options.batch}, {options.steps} steps: {plain:.2f} img/s plain, "
        f"{previewed:.2f} img/s with a preview every {PREVIEW_EVERY} steps "
        f"(cost {100 * (1 - previewed / plain):.1f}% of throughput)"
    )


if __name__ == "__main__":
    main()
