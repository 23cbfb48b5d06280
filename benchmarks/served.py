"""pixelray served over HTTP on a local Ray cluster, and the baseline uvicorn server, under load.

`python -m benchmarks.served --data-plane optimized --out FILE ...` runs every served stage on
one data plane in a process of its own (`benchmarks.run` starts one per data plane): Ray Serve
reads the data-plane variables when its processes start, so each needs a fresh cluster.
`--stages hits` runs only the wrk stages (cache hits and the floor).
"""

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from benchmarks import wrk
from benchmarks.common import DEVICE, DTYPE, STEPS, TORCH_THREADS, closed_loop, free_port, paired, percentile
from serve_app.data_plane import DATA_PLANES, data_plane_env


def app_args(
    work_dir: Path,
    *,
    base_url: str,
    max_batch_size: int,
    batch_wait_timeout_s: float,
    max_size: int = 256,
    models_dir: Path | None = None,
    default_size: int = 64,
) -> dict:
    return {
        "database_url": f"sqlite:///{work_dir}/pixelray.db",
        "public_base_url": base_url,
        "model_cache_dir": str(models_dir or work_dir / "models"),
        "storage": {"enabled": True, "backend": "local", "local_dir": str(work_dir / "files")},
        "plans": [
            {
                "slug": "bench",
                "name": "Bench",
                "requests_per_minute": None,
                "max_concurrent": None,
                "initial_credits": 10**9,
            }
        ],
        "models": [
            {
                "slug": "tiny-sd",
                "name": "Tiny SD",
                "source": "builtin:tiny-sd",
                "default_steps": STEPS,
                "default_guidance_scale": 5.0,
                "min_size": 64,
                "max_size": max_size,
                # The size a GET-image URL draws (the cache-hit stage's image).
                "default_width": default_size,
                "default_height": default_size,
                "device": DEVICE,
                "dtype": DTYPE,
                "num_threads": TORCH_THREADS,
                "batching": {"max_batch_size": max_batch_size, "batch_wait_timeout_s": batch_wait_timeout_s},
                "deployment": {
                    "num_replicas": 1,
                    "max_ongoing_requests": max(32, 2 * max_batch_size),
                    "ray_actor_options": {"num_cpus": 0, "num_gpus": 1 if DEVICE == "cuda" else 0},
                },
            }
        ],
        "ingress": {"num_replicas": 1, "ray_actor_options": {"num_cpus": 0}},
    }


async def wait_until_ready(url: str, *, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
    raise TimeoutError(f"{url} did not answer 200 within {timeout_s:.0f} s")


class ServedPixelray:
    """The real pixelray application (proxy, ingress, one model replica) on a local Ray cluster."""

    def __init__(self, work_dir: Path, *, max_size: int = 256, models_dir: Path | None = None, hit_size: int = 64):
        import ray
        from ray import serve

        self.work_dir = work_dir
        self.max_size = max_size
        self.hit_size = hit_size
        self.models_dir = models_dir
        self.base_url = f"http://127.0.0.1:{free_port()}"
        # A cluster of its own: never join one another process started on this machine.
        ray.init(
            address="local",
            num_cpus=os.cpu_count(),
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}},
        )
        serve.start(http_options={"host": "127.0.0.1", "port": int(self.base_url.rsplit(":", 1)[1])})
        self.key = ""

    async def deploy(self, *, max_batch_size: int, batch_wait_timeout_s: float) -> None:
        from ray import serve

        from serve_app.app import build_app

        args = app_args(
            self.work_dir,
            base_url=self.base_url,
            max_batch_size=max_batch_size,
            batch_wait_timeout_s=batch_wait_timeout_s,
            max_size=self.max_size,
            models_dir=self.models_dir,
            default_size=self.hit_size,
        )
        serve.run(build_app(args), name="pixelray", route_prefix="/", blocking=False)
        await wait_until_ready(f"{self.base_url}/api/v1/health")
        if not self.key:
            self.key, self.project = await self._create_user(args)

    async def _create_user(self, args: dict) -> tuple[str, str]:
        """A user with credits and a project of theirs for the GET-image stage: (key, project slug)."""
        from serve_app.config import parse_app_config
        from serve_app.db.session import Database
        from serve_app.services.projects import create_project
        from serve_app.services.users import create_user

        db = Database(args["database_url"])
        try:
            name = f"bench-{secrets.token_hex(3)}"
            created = await create_user(db=db, config=parse_app_config(args), name=name, plan="bench")
            project = await create_project(db=db, slug=name, user=created.user)
        finally:
            await db.dispose()
        return created.key, project.slug

    async def model_stats(self) -> dict:
        """The model replica's own counts (`DiffusionServer.stats`): batch sizes that ran, steps."""
        from ray import serve

        return await serve.get_deployment_handle("tiny-sd", app_name="pixelray").stats.remote()

    async def cached_image_url(self) -> tuple[str, int]:
        """A GET-image URL whose image (`hit_size` square) is in the cache, and its size in bytes."""
        url = f"{self.base_url}/p/{self.project}/image?prompt=a%20cached%20lighthouse&seed=1&format=png"
        async with httpx.AsyncClient(timeout=300) as http:
            for _ in range(2):
                response = await http.get(url)
                response.raise_for_status()
        if response.headers["x-cache"] != "HIT":
            raise RuntimeError(f"{url} did not come from the cache the second time")
        return url, len(response.content)

    def sender(self, size: int):
        url = f"{self.base_url}/api/v1/generate"
        headers = {"Authorization": f"Bearer {self.key}"}

        def send(http: httpx.AsyncClient, seed: int):
            body = {
                "prompt": "a lighthouse at dusk",
                "width": size,
                "height": size,
                "num_inference_steps": STEPS,
                "seed": seed,
            }
            return http.post(url, json=body, headers=headers)

        return send

    def shutdown(self) -> None:
        import ray
        from ray import serve

        serve.shutdown()
        ray.shutdown()


async def sample_held(served: ServedPixelray, held: list[int]) -> None:
    """Samples how many requests the model replica holds (queued + running) until cancelled: far
    fewer than the clients in flight means they wait upstream (proxy, ingress, ledger)."""
    while True:
        stats = await served.model_stats()
        held.append(stats["queued"] + stats["running"])
        await asyncio.sleep(0.25)


def batch_sizes_run(before: dict, after: dict) -> dict[int, int]:
    """Batches that ran between two `model_stats` readings, by size."""
    sizes = {int(size): count - before["batch_sizes"].get(size, 0) for size, count in after["batch_sizes"].items()}
    return {size: count for size, count in sorted(sizes.items()) if count}


def load_figures(result, batch_sizes: dict[int, int] | None = None) -> dict:
    lat = result.latencies_s or [0.0]
    return {
        "throughput": result.throughput,
        "completed": result.completed,
        "p50_s": statistics.median(lat),
        "p99_s": percentile(lat, 99),
        "errors": result.errors,
        "batch_sizes": batch_sizes or {},
    }


async def served_stages(work_dir: Path, options) -> dict:
    """Batching on (with the batch sizes that ran), one client, batching off, then the
    fixed-connection stages: cache hits and the trivial-endpoint floor. `--stages hits` runs
    only the last (one deployment, batching on)."""
    served = ServedPixelray(
        work_dir, max_size=max(256, *options.sizes), models_dir=options.models_dir, hit_size=options.sizes[0]
    )
    figures: dict = {"on": {}, "off": {}}
    try:
        if "load" not in options.stages:
            await served.deploy(
                max_batch_size=options.max_batch_size, batch_wait_timeout_s=options.batch_wait_timeout_s
            )
            figures["hits"] = await fixed_connection_stages(served, options)
            return figures
        for label, batch in (("on", options.max_batch_size), ("off", 1)):
            await served.deploy(max_batch_size=batch, batch_wait_timeout_s=options.batch_wait_timeout_s)
            for size in options.sizes:
                before = await served.model_stats()
                held: list[int] = []
                sampling = asyncio.create_task(sample_held(served, held))
                try:
                    result = await closed_loop(
                        served.sender(size),
                        clients=options.clients,
                        warmup_s=options.warmup,
                        duration_s=options.duration,
                    )
                finally:
                    sampling.cancel()
                sizes = batch_sizes_run(before, await served.model_stats())
                figures[label][size] = {**load_figures(result, sizes), "held_median": statistics.median(held or [0])}
                print(
                    f"  [{options.data_plane}] served {size}x{size} batching {label}: {result.line()}; "
                    f"batch sizes run {sizes}; requests on the replica (median of samples) "
                    f"{statistics.median(held or [0]):.0f} of {options.clients} in flight",
                    flush=True,
                )
            if label == "on":
                figures["low_load"] = await low_load(served, options)
                if "hits" in options.stages:
                    figures["hits"] = await fixed_connection_stages(served, options)
    finally:
        served.shutdown()
    return figures


async def low_load(served: ServedPixelray, options) -> list[tuple[float, dict[str, float], float]]:
    """One client: (served, its stages by Server-Timing, raw) seconds per round, the raw image
    drawn in this process right after each served one (`common.paired`)."""
    from benchmarks import raw_pipeline

    size = options.sizes[0]
    backend = raw_pipeline.load_backend(served.models_dir or served.work_dir / "models")
    return await paired(
        served.sender(size),
        lambda seed: backend.generate(raw_pipeline.batch_of(size, 1, seed)),
        requests=options.latency_requests,
    )


async def fixed_connection_stages(served: ServedPixelray, options) -> dict:
    if not wrk.available():
        print("  wrk not found (scripts/ensure-wrk.sh installs it): cache-hit and floor stages skipped", flush=True)
        return {}
    hit_url, hit_bytes = await served.cached_image_url()
    print(
        f"  [{options.data_plane}] the cached image: {served.hit_size}x{served.hit_size}, {hit_bytes} bytes", flush=True
    )
    urls = {"cache hit": hit_url, "GET /api/v1/models": f"{served.base_url}/api/v1/models"}
    found = {}
    for name, url in urls.items():
        # Discarded: the first requests on each replica read the project, the image and the routes.
        await asyncio.to_thread(wrk.run, url, connections=options.connections, seconds=options.warmup)
        result = await asyncio.to_thread(wrk.run, url, connections=options.connections, seconds=options.wrk_seconds)
        found[name] = result.__dict__
        print(f"  [{options.data_plane}] {name} ({options.connections} connections, wrk): {result.line()}", flush=True)
        if result.errors or not result.requests_per_s:
            async with httpx.AsyncClient(timeout=30) as http:
                probe = await http.get(url)
            print(
                f"    one more request after it: {probe.status_code} {probe.headers.get('x-error-message', '')}",
                flush=True,
            )
    return found


def run_data_plane(plane: str, options, *, work_dir: Path, models_dir: Path) -> dict:
    """Runs `served_stages` in a child process under `plane`'s environment; its figures."""
    out = work_dir / f"served-{plane}.json"
    argv = [
        sys.executable,
        "-m",
        "benchmarks.served",
        "--data-plane",
        plane,
        "--out",
        str(out),
        "--models-dir",
        str(models_dir),
        "--sizes",
        *map(str, options.sizes),
        "--clients",
        str(options.clients),
        "--max-batch-size",
        str(options.max_batch_size),
        "--batch-wait-timeout-s",
        str(options.batch_wait_timeout_s),
        "--warmup",
        str(options.warmup),
        "--duration",
        str(options.duration),
        "--latency-requests",
        str(options.latency_requests),
        "--connections",
        str(options.connections),
        "--wrk-seconds",
        str(options.wrk_seconds),
    ]
    subprocess.run(argv, env={**os.environ, **data_plane_env(plane)}, check=True)
    figures = json.loads(out.read_text())
    # JSON keys are strings; sizes are ints everywhere else.
    for label in ("on", "off"):
        figures[label] = {
            int(size): {**value, "batch_sizes": {int(n): count for n, count in value["batch_sizes"].items()}}
            for size, value in figures[label].items()
        }
    return figures


def add_served_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[512],
        help="image sides to measure; 512 is what the seed services' users send, 64 a quick check",
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--batch-wait-timeout-s", type=float, default=0.005)
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per load run")
    parser.add_argument("--latency-requests", type=int, default=30)
    parser.add_argument("--connections", type=int, default=32, help="wrk connections for the cache-hit stage")
    parser.add_argument("--wrk-seconds", type=float, default=10.0, help="seconds per wrk run")


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_served_options(parser)
    parser.add_argument("--data-plane", choices=sorted(DATA_PLANES), required=True)
    parser.add_argument("--out", type=Path, required=True, help="where the figures go (JSON)")
    parser.add_argument("--models-dir", type=Path, help="built models to reuse (default: build them here)")
    parser.add_argument(
        "--stages",
        nargs="+",
        choices=["load", "hits"],
        default=["load", "hits"],
        help="`load`: batching on and off, one client; `hits`: wrk on a cached GET-image URL (an image "
        "of the first of --sizes) and on GET /api/v1/models, the floor",
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pixelray-served-") as tmp:
        figures = asyncio.run(served_stages(Path(tmp), options))
    options.out.write_text(json.dumps(figures))


class BaselineServer:
    """`benchmarks/baseline_server.py` under uvicorn in its own process."""

    def __init__(self, model_dir: Path):
        self.port = free_port()
        env = {**os.environ, "PIXELRAY_BASELINE_MODEL": str(model_dir)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "benchmarks.baseline_server:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            env=env,
        )

    async def ready(self) -> None:
        await wait_until_ready(f"http://127.0.0.1:{self.port}/docs")

    def sender(self, size: int):
        url = f"http://127.0.0.1:{self.port}/generate"

        def send(http: httpx.AsyncClient, seed: int):
            return http.post(
                url,
                json={
                    "prompt": "a lighthouse at dusk",
                    "width": size,
                    "height": size,
                    "num_inference_steps": STEPS,
                    "seed": seed,
                },
            )

        return send

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


if __name__ == "__main__":
    main()
