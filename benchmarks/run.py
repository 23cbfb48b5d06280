"""All benchmarks in one run, ending with the ratios: `make bench` (or `python -m benchmarks.run`).

Stages, one after the other so they never compete for the CPU: the raw pipeline in-process;
pixelray over HTTP on each Ray Serve data plane (default, then throughput-optimized), each with
batching on, one client, batching off, GET-image cache hits and the trivial-endpoint floor; the
baseline uvicorn server. Every target is printed with PASS or SHORT.
"""

import argparse
import asyncio
import gc
import statistics
import tempfile
from pathlib import Path

from benchmarks import previews, raw_pipeline
from benchmarks.common import STEPS, TORCH_THREADS, LoadResult, closed_loop, machine, percentile, tiny_model_dir
from benchmarks.served import DATA_PLANES, BaselineServer, add_served_options, run_data_plane

# Issue 14's targets.
SERVED_OVER_RAW = 0.85
BATCH_GAIN_SHARE = 0.9
OVER_BASELINE = 2.5
OVERHEAD_P50_MS = 10.0
HITS_PER_S = 300.0
HIT_P99_MS = 100.0


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "SHORT"


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


def report(plane: str, served: dict, *, raw: dict, baseline: dict, options) -> None:
    print(f"\n{plane} data plane")
    for size in options.sizes:
        on, off = served["on"][size], served["off"][size]
        limit = max(raw[size].values())
        raw_gain = raw[size][max(options.batches)] / raw[size][1]
        gain = on["throughput"] / off["throughput"] if off["throughput"] else 0.0
        share = on["throughput"] / limit
        over_baseline = on["throughput"] / baseline[size].throughput if baseline[size].throughput else 0.0
        print(
            f"  {size}x{size}: served/raw limit {share:.2f} (raw limit {limit:.2f} img/s at batch "
            f"{max(raw[size], key=raw[size].get)}) [{verdict(share >= SERVED_OVER_RAW)} >= {SERVED_OVER_RAW}]"
        )
        print(
            f"  {size}x{size}: batching on/off {gain:.2f} vs raw batch {max(options.batches)}/1 {raw_gain:.2f} "
            f"[{verdict(gain >= BATCH_GAIN_SHARE * raw_gain)} >= {BATCH_GAIN_SHARE} x raw]; "
            f"batch sizes run (on) {on['batch_sizes']}"
        )
        print(
            f"  {size}x{size}: pixelray/baseline {over_baseline:.2f} [{verdict(over_baseline >= OVER_BASELINE)} "
            f">= {OVER_BASELINE}]"
        )
    rounds = served["low_load"]
    beyond_raw = [total - raw_s for total, _, raw_s in rounds]
    outside_model = [total - stages.get("model", 0.0) for total, stages, _ in rounds]
    overhead = percentile(beyond_raw, 50)
    print(
        f"  low-load overhead (served - raw, {options.sizes[0]}x{options.sizes[0]}, {len(rounds)} rounds side by "
        f"side): p50 {ms(overhead)} [{verdict(overhead * 1000 <= OVERHEAD_P50_MS)} <= {OVERHEAD_P50_MS:.0f} ms], "
        f"p99 {ms(percentile(beyond_raw, 99))}; outside the model replica (served - Server-Timing model): "
        f"p50 {ms(percentile(outside_model, 50))}, p99 {ms(percentile(outside_model, 99))}; served p50 "
        f"{ms(percentile([total for total, _, _ in rounds], 50))}, raw p50 "
        f"{ms(percentile([raw_s for _, _, raw_s in rounds], 50))}"
    )
    print(f"  low-load split (p50 of each, Server-Timing): {stage_split(rounds)}")
    hits = served["hits"].get("cache hit")
    if hits:
        ok = hits["requests_per_s"] >= HITS_PER_S and hits["p99_ms"] <= HIT_P99_MS
        floor = served["hits"]["GET /api/v1/models"]
        print(
            f"  cache hits: {hits['requests_per_s']:.0f} req/s, p99 {hits['p99_ms']:.0f} ms "
            f"[{verdict(ok)} >= {HITS_PER_S:.0f} req/s, p99 <= {HIT_P99_MS:.0f} ms]; floor "
            f"(GET /api/v1/models) {floor['requests_per_s']:.0f} req/s, p99 {floor['p99_ms']:.0f} ms"
        )


def stage_split(rounds: list) -> str:
    """The p50 of each stage the responses timed, and of the rest: what the stack spends outside
    them (the proxy, parsing and authentication, Serve's hops to the model replica and back)."""
    names = list(dict.fromkeys(name for _, stages, _ in rounds for name in stages))
    parts = [f"{name} {ms(percentile([stages.get(name, 0.0) for _, stages, _ in rounds], 50))}" for name in names]
    rest = [total - sum(stages.values()) for total, stages, _ in rounds]
    return ", ".join([*parts, f"rest {ms(percentile(rest, 50))}"])


def compare(planes: dict[str, dict], options) -> None:
    if "default" not in planes:
        return
    default = planes["default"]
    for plane, served in planes.items():
        if plane == "default":
            continue
        print(f"\n{plane} / default")
        for size in options.sizes:
            ratio = served["on"][size]["throughput"] / default["on"][size]["throughput"]
            print(f"  {size}x{size} batching on: {ratio:.2f}")
        for name in ("cache hit", "GET /api/v1/models"):
            if name in default["hits"] and name in served["hits"]:
                ratio = served["hits"][name]["requests_per_s"] / default["hits"][name]["requests_per_s"]
                print(f"  {name} req/s: {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_served_options(parser)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--raw-seconds", type=float, default=4.0, help="least seconds per raw figure")
    parser.add_argument("--data-planes", nargs="+", choices=sorted(DATA_PLANES), default=["default", "optimized"])
    options = parser.parse_args()
    print(f"machine: {machine()}; torch threads {TORCH_THREADS}; {STEPS} steps; {options.clients} clients")

    with tempfile.TemporaryDirectory(prefix="pixelray-bench-") as tmp:
        work_dir = Path(tmp)
        model_dir = tiny_model_dir(work_dir / "models")
        backend = raw_pipeline.load_backend(work_dir / "models")
        raw = raw_pipeline.measure(
            backend, sizes=options.sizes, batches=options.batches, min_seconds=options.raw_seconds
        )
        raw_latency = raw_pipeline.latencies(backend, size=options.sizes[0], requests=options.latency_requests)
        print(
            f"raw  {options.sizes[0]}x{options.sizes[0]} one image: p50 {ms(statistics.median(raw_latency))}, "
            f"p99 {ms(percentile(raw_latency, 99))}",
            flush=True,
        )
        plain, previewed = previews.measure(backend, size=options.sizes[0], batch=8, steps=2 * STEPS, rounds=5)
        print(
            f"raw  {options.sizes[0]}x{options.sizes[0]} batch 8, {2 * STEPS} steps: previews every "
            f"{previews.PREVIEW_EVERY} steps cost {100 * (1 - previewed / plain):.1f}% of throughput",
            flush=True,
        )
        del backend
        gc.collect()
        planes = {}
        for plane in options.data_planes:
            print(f"served, {plane} data plane:", flush=True)
            planes[plane] = run_data_plane(plane, options, work_dir=work_dir, models_dir=work_dir / "models")
        baseline = asyncio.run(baseline_stage(model_dir, options))

    for plane, served in planes.items():
        report(plane, served, raw=raw, baseline=baseline, options=options)
    compare(planes, options)


if __name__ == "__main__":
    main()
