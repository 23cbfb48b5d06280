"""What an oversized request body costs the server: unauthenticated 100 MB POSTs to
/api/v1/generate, one alone and 8 at once, against a running pixelray on loopback.

For each POST: when the answer came, its status, and how much of the body the client had sent
by then. Meanwhile: /api/v1/health latency, and the resident memory of the Serve proxy and of
the ingress replicas on this machine (peak, and 2 s after), sampled every 20 ms.

    python -m benchmarks.oversized_body http://127.0.0.1:PORT [--size-mb 100] [--concurrent 8] [--ray-pid PID]

The figures of the runs before and after the body limit are in docs/robustness.md.
"""

import argparse
import asyncio
import contextlib
import statistics
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import psutil

CHUNK = 1024 * 1024


@dataclass
class Outcome:
    status: str
    seconds: float
    sent_mb: float


def serve_processes(root_pid: int | None) -> dict[str, list[psutil.Process]]:
    """The Serve proxy and the pixelray ingress replicas, by Ray's process titles: among the
    descendants of `root_pid` (the process that started the Ray cluster), else on the machine."""
    found: dict[str, list[psutil.Process]] = {"proxy": [], "ingress": []}
    candidates = psutil.Process(root_pid).children(recursive=True) if root_pid else psutil.process_iter()
    for process in candidates:
        try:
            title = " ".join(process.cmdline())
        except psutil.Error:
            continue
        if "ProxyActor" in title:
            found["proxy"].append(process)
        elif "ServeReplica:pixelray:ingress" in title:
            found["ingress"].append(process)
    return found


def rss_mb(processes: list[psutil.Process]) -> float:
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total / 2**20


async def post_oversized(url: str, size: int) -> Outcome:
    """Sends the headers, then the body 1 MiB at a time until the server answers or closes."""
    parts = urlsplit(url)
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(
        f"POST /api/v1/generate HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n".encode()
    )
    answer = asyncio.ensure_future(reader.readline())
    sent = 0
    chunk = b" " * CHUNK
    try:
        while sent < size and not answer.done():
            writer.write(chunk[: min(CHUNK, size - sent)])
            await writer.drain()
            sent += min(CHUNK, size - sent)
        line = await asyncio.wait_for(answer, timeout=120)
        status = line.decode(errors="replace").split(" ")[1] if line else "closed"
    except (TimeoutError, ConnectionError) as exc:
        status = type(exc).__name__
        if answer.done() and not answer.cancelled() and answer.exception() is None and answer.result():
            status = answer.result().decode(errors="replace").split(" ")[1]
    finally:
        answer.cancel()
        writer.close()
    return Outcome(status=status, seconds=time.perf_counter() - started, sent_mb=sent / 2**20)


async def health_latencies(url: str, stop: asyncio.Event) -> list[float]:
    latencies = []
    async with httpx.AsyncClient(timeout=60) as http:
        while not stop.is_set():
            started = time.perf_counter()
            await http.get(f"{url}/api/v1/health")
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.05)
    return latencies


async def sample_memory(processes: dict[str, list[psutil.Process]], stop: asyncio.Event) -> dict[str, float]:
    peaks = {name: 0.0 for name in processes}
    while not stop.is_set():
        for name, members in processes.items():
            peaks[name] = max(peaks[name], rss_mb(members))
        await asyncio.sleep(0.02)
    return peaks


async def scenario(url: str, *, size: int, concurrent: int, root_pid: int | None) -> None:
    processes = serve_processes(root_pid)
    before = {name: rss_mb(members) for name, members in processes.items()}
    stop = asyncio.Event()
    memory = asyncio.ensure_future(sample_memory(processes, stop))
    health = asyncio.ensure_future(health_latencies(url, stop))
    outcomes = await asyncio.gather(*(post_oversized(url, size) for _ in range(concurrent)))
    stop.set()
    peaks, latencies = await memory, await health
    await asyncio.sleep(2)
    after = {name: rss_mb(members) for name, members in processes.items()}
    seconds = [outcome.seconds for outcome in outcomes]
    print(f"{concurrent} x {size / 2**20:.0f} MB, unauthenticated:")
    print(
        f"  answers: {sorted({outcome.status for outcome in outcomes})}; seconds to answer: "
        f"median {statistics.median(seconds):.3f}, max {max(seconds):.3f}; "
        f"body sent before the answer: max {max(outcome.sent_mb for outcome in outcomes):.0f} MB"
    )
    if latencies:
        print(f"  /api/v1/health meanwhile: {len(latencies)} requests, max {max(latencies) * 1000:.0f} ms")
    for name in processes:
        print(
            f"  {name} RSS (MB, {len(processes[name])} processes): before {before[name]:.0f}, "
            f"peak {peaks[name]:.0f}, 2 s after {after[name]:.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="base URL of a running pixelray, e.g. http://127.0.0.1:8000")
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--concurrent", type=int, default=8)
    parser.add_argument(
        "--ray-pid", type=int, help="the process that started the Ray cluster; its Serve processes are measured"
    )
    args = parser.parse_args()
    size = args.size_mb * 2**20
    asyncio.run(scenario(args.url, size=size, concurrent=1, root_pid=args.ray_pid))
    asyncio.run(scenario(args.url, size=size, concurrent=args.concurrent, root_pid=args.ray_pid))


if __name__ == "__main__":
    main()
