"""Shared pieces of the benchmarks: the tiny model, a closed-loop HTTP load generator, figures."""

import asyncio
import bisect
import os
import platform
import random
import socket
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# As the diffusion replica does (deployments/diffusion/server.py), for the raw pipeline and the
# baseline too, so that every stage runs torch the same way. Set before anything loads torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
STEPS = 4
TORCH_THREADS = int(os.environ.get("PIXELRAY_BENCH_THREADS", os.cpu_count() or 1))
# The same benchmarks on a GPU: PIXELRAY_BENCH_DEVICE=cuda PIXELRAY_BENCH_DTYPE=float16.
DEVICE = os.environ.get("PIXELRAY_BENCH_DEVICE", "auto")
DTYPE = os.environ.get("PIXELRAY_BENCH_DTYPE", "float32")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tiny_model_dir(cache_dir: Path) -> Path:
    """Builds `builtin:tiny-sd` into `cache_dir` (once) and returns its pipeline directory."""
    from deployments.builtin_models import builtin_model_path

    return Path(builtin_model_path("tiny-sd", cache_dir))


def machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, {gpu}, torch {torch.__version__}, "
        f"device {DEVICE}, dtype {DTYPE}, OMP_WAIT_POLICY {os.environ['OMP_WAIT_POLICY']}, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass
class LoadResult:
    """What a load run measured: completed images per second and their latencies."""

    completed: int
    window_s: float
    latencies_s: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.completed / self.window_s if self.window_s else 0.0

    def line(self) -> str:
        lat = self.latencies_s or [0.0]
        errors = f", errors {self.errors}" if self.errors else ""
        return (
            f"{self.throughput:6.2f} img/s  ({self.completed} in {self.window_s:.1f} s; latency p50 "
            f"{statistics.median(lat) * 1000:.0f} ms, p99 {percentile(lat, 99) * 1000:.0f} ms{errors})"
        )


Send = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


async def closed_loop(send: Send, *, clients: int, warmup_s: float, duration_s: float) -> LoadResult:
    """`clients` loops each sending its next request when the previous one answers, for
    `warmup_s` + `duration_s`; the throughput is measured between answers (`completions_between`)."""
    started = time.perf_counter()
    window = (started + warmup_s, started + warmup_s + duration_s)
    answered: list[tuple[float, float]] = []
    errors: dict[str, int] = {}

    async def client(http: httpx.AsyncClient) -> None:
        while time.perf_counter() < window[1]:
            sent = time.perf_counter()
            response = await send(http, random.randrange(2**32))
            done = time.perf_counter()
            if response.status_code != 200:
                key = str(response.status_code)
                errors[key] = errors.get(key, 0) + 1
                await asyncio.sleep(0.05)
            else:
                answered.append((done, done - sent))

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    completed, window_s = completions_between(sorted(done for done, _ in answered), *window)
    latencies = [latency for done, latency in answered if window[0] <= done <= window[1]]
    return LoadResult(completed=completed, window_s=window_s, latencies_s=latencies, errors=errors)


def completions_between(times: list[float], start: float, end: float) -> tuple[int, float]:
    """Answers per second measured from the first answer after `start` to the first after `end`.

    Batched answers arrive in waves (at 512x512 here: 8 images every ~5 s), so counting the
    answers inside a fixed window is off by up to a whole wave: 20 s held 3 or 5 waves, i.e. 1.2
    or 2.0 img/s for the same server. From one answer to a later one spans whole waves exactly.
    Falls back to the fixed window when fewer than two answers bound it."""
    first = bisect.bisect_left(times, start)
    last = bisect.bisect_left(times, end)
    if last < len(times) and last > first and times[last] > times[first]:
        return last - first, times[last] - times[first]
    return sum(start <= t <= end for t in times), end - start


def server_timing(response: httpx.Response) -> dict[str, float]:
    """Seconds per stage the response's `Server-Timing` reports (`admit;dur=MS, model;dur=MS, ...`)."""
    stages = {}
    for metric in response.headers.get("server-timing", "").split(","):
        name, _, duration = metric.strip().partition(";dur=")
        if name and duration:
            stages[name] = float(duration) / 1000
    return stages


async def paired(
    send: Send, raw: Callable[[int], object], *, requests: int, warmup: int = 2
) -> list[tuple[float, dict[str, float], float]]:
    """(served, its stages by Server-Timing, raw) seconds for `requests` rounds: one request
    served over HTTP, then the same image drawn in this process by `raw`, one at a time (after
    `warmup` unmeasured rounds).

    This CPU's speed drifts by ±15 % over minutes, more than the overhead being measured, so the
    served and raw latencies are taken side by side and compared round by round; the replica's
    stages (Server-Timing: admit, model, store, settle) split the served latency into the model's
    part and the stack's."""
    rounds = []
    async with httpx.AsyncClient(timeout=300) as http:
        for i in range(warmup + requests):
            sent = time.perf_counter()
            response = await send(http, i)
            response.raise_for_status()
            served = time.perf_counter() - sent
            started = time.perf_counter()
            raw(i)
            if i >= warmup:
                rounds.append((served, server_timing(response), time.perf_counter() - started))
    return rounds
