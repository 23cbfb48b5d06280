"""GET-image cache figures against a running pixelray: miss vs hit latency, and how many
generations K identical concurrent requests cost.

    make run   # in another shell; then create a project:
    .venv/bin/pixelray projects create bench --user alice
    .venv/bin/python benchmarks/image_url.py --base-url http://127.0.0.1:8000 --project bench
"""

import argparse
import asyncio
import secrets
import statistics
import time

import httpx


def summary(name: str, seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{name:<28} n={len(ordered):<4} p50={statistics.median(ordered) * 1000:8.1f} ms  p95={p95 * 1000:8.1f} ms"


async def timed_get(client: httpx.AsyncClient, url: str) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = await client.get(url)
    return time.perf_counter() - started, response


async def main(base_url: str, project: str, n: int, concurrency: int) -> None:
    run = secrets.token_hex(4)
    urls = [f"/p/{project}/image?prompt=benchmark%20{run}%20{i}&seed={i}" for i in range(n)]
    async with httpx.AsyncClient(base_url=base_url, timeout=300) as client:
        misses, hits = [], []
        for url in urls:
            elapsed, response = await timed_get(client, url)
            assert response.headers["x-cache"] == "MISS", response.headers.get("x-error-message")
            misses.append(elapsed)
        for url in urls:
            elapsed, response = await timed_get(client, url)
            assert response.headers["x-cache"] == "HIT"
            hits.append(elapsed)
        print(summary("miss (generate + store)", misses))
        print(summary("hit (object store)", hits))
        print(f"{'hit / miss latency (p50)':<28} {statistics.median(hits) / statistics.median(misses):.3f}")

        same = f"/p/{project}/image?prompt=coalesced%20{run}"
        started = time.perf_counter()
        answers = await asyncio.gather(*(timed_get(client, same) for _ in range(concurrency)))
        wall = time.perf_counter() - started
        generated = sum(r.headers["x-cache"] == "MISS" for _, r in answers)
        charged = sum(int(r.headers["x-credits"]) for _, r in answers)
        print(
            f"{concurrency} identical concurrent requests: {generated} generation(s), {charged} credit(s), "
            f"wall {wall * 1000:.0f} ms, slowest {max(t for t, _ in answers) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--project", required=True)
    parser.add_argument("--n", type=int, default=20, help="distinct URLs for the miss/hit figures")
    parser.add_argument("--concurrency", type=int, default=10, help="identical requests sent at once")
    args = parser.parse_args()
    asyncio.run(main(args.base_url, args.project, args.n, args.concurrency))
