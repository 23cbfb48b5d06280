"""pixelray served over HTTP on a local Ray cluster, and the baseline uvicorn server, under load."""

import asyncio
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx

from benchmarks.common import DEVICE, DTYPE, STEPS, TORCH_THREADS, free_port


def app_args(work_dir: Path, *, base_url: str, max_batch_size: int, batch_wait_timeout_s: float) -> dict:
    return {
        "database_url": f"sqlite:///{work_dir}/pixelray.db",
        "public_base_url": base_url,
        "model_cache_dir": str(work_dir / "models"),
        "storage": {"enabled": True, "backend": "local", "local_dir": str(work_dir / "files")},
        "plans": [{"slug": "bench", "name": "Bench", "requests_per_minute": None, "max_concurrent": None,
                   "initial_credits": 10**9}],
        "models": [{
            "slug": "tiny-sd", "name": "Tiny SD", "source": "builtin:tiny-sd",
            "default_steps": STEPS, "default_guidance_scale": 5.0,
            "min_size": 64, "max_size": 256, "default_width": 64, "default_height": 64,
            "device": DEVICE, "dtype": DTYPE, "num_threads": TORCH_THREADS,
            "batching": {"max_batch_size": max_batch_size, "batch_wait_timeout_s": batch_wait_timeout_s},
            "deployment": {"num_replicas": 1, "max_ongoing_requests": max(32, 2 * max_batch_size),
                           "ray_actor_options": {"num_cpus": 0, "num_gpus": 1 if DEVICE == "cuda" else 0}},
        }],
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

    def __init__(self, work_dir: Path):
        import ray
        from ray import serve

        self.work_dir = work_dir
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
            self.work_dir, base_url=self.base_url, max_batch_size=max_batch_size,
            batch_wait_timeout_s=batch_wait_timeout_s,
        )
        serve.run(build_app(args), name="pixelray", route_prefix="/", blocking=False)
        await wait_until_ready(f"{self.base_url}/api/v1/health")
        if not self.key:
            self.key = await self._create_user(args)

    async def _create_user(self, args: dict) -> str:
        from serve_app.config import parse_app_config
        from serve_app.db.session import Database
        from serve_app.services.users import create_user

        db = Database(args["database_url"])
        try:
            created = await create_user(
                db=db, config=parse_app_config(args), name=f"bench-{secrets.token_hex(3)}", plan="bench"
            )
        finally:
            await db.dispose()
        return created.key

    def sender(self, size: int):
        url = f"{self.base_url}/api/v1/generate"
        headers = {"Authorization": f"Bearer {self.key}"}

        def send(http: httpx.AsyncClient, seed: int):
            body = {"prompt": "a lighthouse at dusk", "width": size, "height": size,
                    "num_inference_steps": STEPS, "seed": seed}
            return http.post(url, json=body, headers=headers)

        return send

    def shutdown(self) -> None:
        import ray
        from ray import serve

        serve.shutdown()
        ray.shutdown()


class BaselineServer:
    """`benchmarks/baseline_server.py` under uvicorn in its own process."""

    def __init__(self, model_dir: Path):
        self.port = free_port()
        env = {**os.environ, "PIXELRAY_BASELINE_MODEL": str(model_dir)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "benchmarks.baseline_server:app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"],
            env=env,
        )

    async def ready(self) -> None:
        await wait_until_ready(f"http://127.0.0.1:{self.port}/docs")

    def sender(self, size: int):
        url = f"http://127.0.0.1:{self.port}/generate"

        def send(http: httpx.AsyncClient, seed: int):
            return http.post(url, json={"prompt": "a lighthouse at dusk", "width": size, "height": size,
                                        "num_inference_steps": STEPS, "seed": seed})

        return send

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
