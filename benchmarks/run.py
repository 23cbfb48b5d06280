"""All benchmarks in one run, ending with the ratios: `make bench` (or `python -m benchmarks.run`).

Stages, one after the other so they never compete for the CPU: the raw pipeline in-process;
pixelray over HTTP with batching on, then off; low-load latency; the baseline uvicorn server.
"""

import argparse
import asyncio
import gc
import statistics
import tempfile
from pathlib import Path

from benchmarks import previews, raw_pipeline
from benchmarks.common import STEPS, TORCH_THREADS, LoadResult, closed_loop, machine, percentile, sequential, tiny_model_dir
from benchmarks.served import BaselineServer, ServedPixelray


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


async def served_stage(work_dir: Path, options) -> tuple[dict, dict, list[float]]:
    served = ServedPixelray(work_dir)
    on: dict[int, LoadResult] = {}
    off: dict[int, LoadResult] = {}
    try:
        for label, figures, batch in (("on ", on, options.max_batch_size), ("off", off, 1)):
            await served.deploy(max_batch_size=batch, batch_wait_timeout_s=options.batch_wait_timeout_s)
            for size in options.sizes:
                figures[size] = await closed_loop(
                    served.sender(size), clients=options.clients, warmup_s=options.warmup, duration_s=options.duration
                )
                print(f"served {size}x{size} batching {label} ({options.clients} clients): {figures[size].line()}", flush=True)
            if batch == options.max_batch_size:
                latency = await sequential(served.sender(options.sizes[0]), requests=options.latency_requests)
                print(f"served {options.sizes[0]}x{options.sizes[0]} one client: p50 {ms(statistics.median(latency))}, "
                      f"p99 {ms(percentile(latency, 99))}", flush=True)
    finally:
        served.shutdown()
    return on, off, latency


async def baseline_stage(model_dir: Path, options) -> dict:
    baseline = BaselineServer(model_dir)
    figures: dict[int, LoadResult] = {}
    try:
        await baseline.ready()
        for size in options.sizes:
            figures[size] = await closed_loop(
                baseline.sender(size), clients=options.clients, warmup_s=options.warmup, duration_s=options.duration
            )
            print(f"baseline {size}x{size} ({options.clients} clients): {figures[size].line()}", flush=True)
    finally:
        baseline.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64], help="256 too on a machine that draws it in seconds")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--batch-wait-timeout-s", type=float, default=0.005)
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per load run")
    parser.add_argument("--raw-seconds", type=float, default=4.0, help="least seconds per raw figure")
    parser.add_argument("--latency-requests", type=int, default=30)
    options = parser.parse_args()
    print(f"machine: {machine()}; torch threads {TORCH_THREADS}; {STEPS} steps; {options.clients} clients")

    with tempfile.TemporaryDirectory(prefix="pixelray-bench-") as tmp:
        work_dir = Path(tmp)
        model_dir = tiny_model_dir(work_dir / "models")
        backend = raw_pipeline.load_backend(work_dir / "models")
        raw = raw_pipeline.measure(backend, sizes=options.sizes, batches=options.batches, min_seconds=options.raw_seconds)
        raw_latency = raw_pipeline.latencies(backend, size=options.sizes[0], requests=options.latency_requests)
        print(f"raw  {options.sizes[0]}x{options.sizes[0]} one image: p50 {ms(statistics.median(raw_latency))}, "
              f"p99 {ms(percentile(raw_latency, 99))}", flush=True)
        plain, previewed = previews.measure(backend, size=options.sizes[0], batch=8, steps=2 * STEPS, rounds=5)
        print(f"raw  {options.sizes[0]}x{options.sizes[0]} batch 8, {2 * STEPS} steps: previews every "
              f"{previews.PREVIEW_EVERY} steps cost {100 * (1 - previewed / plain):.1f}% of throughput", flush=True)
        del backend
        gc.collect()
        on, off, served_latency = asyncio.run(served_stage(work_dir, options))
        baseline = asyncio.run(baseline_stage(model_dir, options))

    print("\nratios")
    for size in options.sizes:
        limit = max(raw[size].values())
        raw_gain = raw[size][max(options.batches)] / raw[size][1]
        print(f"  {size}x{size}: served/raw limit {on[size].throughput / limit:.2f} "
              f"(raw limit {limit:.2f} img/s at batch {max(raw[size], key=raw[size].get)}); "
              f"batching on/off {on[size].throughput / off[size].throughput:.2f} "
              f"(raw batch {max(options.batches)}/1: {raw_gain:.2f}); "
              f"pixelray/baseline {on[size].throughput / baseline[size].throughput:.2f}")
    for q, name in ((50, "p50"), (99, "p99")):
        overhead = percentile(served_latency, q) - percentile(raw_latency, q)
        print(f"  low-load overhead {name} (served - raw, {options.sizes[0]}x{options.sizes[0]}): {ms(overhead)}")


if __name__ == "__main__":
    main()
