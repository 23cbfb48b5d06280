"""Raw pipeline throughput: the tiny model called in-process, no server, at several batch sizes.

python -m benchmarks.raw_pipeline [--sizes 64 256] [--batches 1 4 8 16]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import DEVICE, DTYPE, STEPS, TORCH_THREADS, machine, percentile, tiny_model_dir


def load_backend(cache_dir: Path):
    from deployments.diffusion.backend import DiffusionBackend
    from deployments.diffusion.config import DiffusionConfig

    tiny_model_dir(cache_dir)
    config = DiffusionConfig(
        source="builtin:tiny-sd", cache_dir=str(cache_dir), device=DEVICE, dtype=DTYPE, num_threads=TORCH_THREADS
    )
    return DiffusionBackend(config)


def batch_of(size: int, count: int, first_seed: int = 0) -> list:
    from deployments.protocol import GenerationParams

    return [
        GenerationParams(
            prompt=f"a lighthouse at dusk {i}",
            width=size,
            height=size,
            num_inference_steps=STEPS,
            guidance_scale=5.0,
            seed=first_seed + i,
        )
        for i in range(count)
    ]


def throughput(backend, *, size: int, batch: int, min_seconds: float) -> float:
    """Images per second of back-to-back pipeline calls of `batch` images (at least one)."""
    images, started = 0, time.perf_counter()
    while True:
        backend.generate(batch_of(size, batch, images))
        images += batch
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return images / elapsed


def latencies(backend, *, size: int, requests: int) -> list[float]:
    """Seconds per single-image call, as a lone request at low load would see."""
    backend.generate(batch_of(size, 1))
    measured = []
    for i in range(requests):
        started = time.perf_counter()
        backend.generate(batch_of(size, 1, i))
        measured.append(time.perf_counter() - started)
    return measured


def measure(backend, *, sizes: list[int], batches: list[int], min_seconds: float) -> dict[int, dict[int, float]]:
    figures: dict[int, dict[int, float]] = {}
    for size in sizes:
        backend.generate(batch_of(size, 1))
        for batch in batches:
            figures.setdefault(size, {})[batch] = throughput(backend, size=size, batch=batch, min_seconds=min_seconds)
            print(f"raw  {size}x{size} batch {batch:2d}: {figures[size][batch]:6.2f} img/s", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--min-seconds", type=float, default=4.0)
    options = parser.parse_args()
    print(f"machine: {machine()}; torch threads {TORCH_THREADS}; {STEPS} steps")
    with tempfile.TemporaryDirectory() as cache:
        backend = load_backend(Path(cache))
        measure(backend, sizes=options.sizes, batches=options.batches, min_seconds=options.min_seconds)
        lat = latencies(backend, size=options.sizes[0], requests=20)
        print(
            f"raw  {options.sizes[0]}x{options.sizes[0]} single-image latency: p50 "
            f"{statistics.median(lat) * 1000:.0f} ms, p99 {percentile(lat, 99) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
