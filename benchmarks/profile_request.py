"""Profiles the ingress's hot path for POST /api/v1/generate with pyinstrument.

The FastAPI app runs in-process with the real database, store, auth and accounting; the model
handle answers at once with a real encoded image, so the profile holds only what the ingress
itself spends per request (the model's time is measured by the raw benchmark). Requests are
handed to the ASGI app directly (a scope, the JSON body, the response collected), so no HTTP
client's work is counted; `--client httpx` drives it through httpx's ASGI transport instead, as
this script did before (that client's own CPU is then part of the figure).

    python -m benchmarks.profile_request [--requests 200] [--concurrency 1]
        [--database-url postgresql://postgres@127.0.0.1:5432/DB] [--ledger-group-commit on|off]
        [--client asgi|httpx] [--no-profile]

It prints wall and CPU time (this process, which runs the whole ingress, its threads included)
per request, measured without the profiler, then the profile of a second pass.
"""

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from pyinstrument import Profiler

from benchmarks import asgi
from benchmarks.served import app_args


class InstantHandle:
    """Stands in for the model deployment's handle: `generate.remote(params)` answers with a
    fixed image of the requested size, without running a model."""

    def __init__(self, image: bytes):
        self.generate = self
        self.image = image

    def remote(self, params):
        return self._answer(params)

    async def _answer(self, params):
        from deployments.protocol import GenerationResult

        return GenerationResult(
            image=self.image,
            content_type="image/png",
            width=params.width,
            height=params.height,
            seed=params.seed,
            inference_seconds=0.0,
        )


Post = Callable[[bytes, dict[str, str]], Awaitable[None]]


def asgi_post(app, path: str) -> Post:
    """POSTs a JSON body to `path` by calling the ASGI app itself; fails unless it answers 200."""

    async def post(body: bytes, headers: dict[str, str]) -> None:
        status, answer = await asgi.call(
            app, "POST", path, body=body, headers={"content-type": "application/json", **headers}
        )
        if status != 200:
            raise RuntimeError(f"{path} answered {status}: {answer[:500]!r}")

    return post


def httpx_post(client: httpx.AsyncClient, path: str) -> Post:
    async def post(body: bytes, headers: dict[str, str]) -> None:
        response = await client.post(path, content=body, headers={"content-type": "application/json", **headers})
        response.raise_for_status()

    return post


def tiny_png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 64).convert("RGB").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


async def profile(
    work_dir: Path,
    requests: int,
    *,
    concurrency: int,
    database_url: str | None,
    group_commit: str | None,
    client: str,
    show: bool,
) -> None:
    from serve_app.api.main import create_app
    from serve_app.api.state import AppState
    from serve_app.config import parse_app_config
    from serve_app.services.users import create_user

    args = app_args(work_dir, base_url="http://bench", max_batch_size=16, batch_wait_timeout_s=0.02)
    if database_url:
        args["database_url"] = database_url
    if group_commit:
        args["ledger"] = {"group_commit": group_commit == "on"}
    config = parse_app_config(args)
    state = AppState.build(config, model_handles={"tiny-sd": InstantHandle(tiny_png())})
    await state.startup()
    key = (await create_user(db=state.db, config=config, name="profile", plan="bench")).key
    app = create_app(state)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
        post = httpx_post(http, "/api/v1/generate") if client == "httpx" else asgi_post(app, "/api/v1/generate")
        headers = {"Authorization": f"Bearer {key}"}

        async def one(seed: int) -> None:
            await post(json.dumps({"prompt": "a lighthouse at dusk", "seed": seed}).encode(), headers)

        async def waves() -> None:
            for start in range(0, requests, concurrency):
                await asyncio.gather(*(one(seed) for seed in range(start, min(requests, start + concurrency))))

        for seed in range(20):
            await one(seed)
        wall, cpu = time.perf_counter(), time.process_time()
        await waves()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        profiler = Profiler(interval=0.0005, async_mode="enabled")
        if show:
            with profiler:
                await waves()
    await state.shutdown()
    where = "PostgreSQL" if database_url else "SQLite"
    print(
        f"ingress hot path ({where}, {requests} requests, {concurrency} at a time, group commit "
        f"{group_commit or 'default'}, {client} client): {wall / requests * 1000:.2f} ms wall, "
        f"{cpu / requests * 1000:.2f} ms CPU per request"
    )
    if show:
        print(profiler.output_text(unicode=False, color=False, show_all=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1, help="Requests in flight at once.")
    parser.add_argument("--database-url", help="An empty database to use instead of a fresh SQLite file.")
    parser.add_argument("--ledger-group-commit", choices=["on", "off"], help="Override ledger.group_commit.")
    parser.add_argument(
        "--client",
        choices=["asgi", "httpx"],
        default="asgi",
        help="asgi: call the app directly (only the ingress's work is timed); httpx: through httpx's ASGI transport.",
    )
    parser.add_argument("--no-profile", action="store_true", help="Only the timed pass.")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pixelray-profile-") as tmp:
        asyncio.run(
            profile(
                Path(tmp),
                options.requests,
                concurrency=options.concurrency,
                database_url=options.database_url,
                group_commit=options.ledger_group_commit,
                client=options.client,
                show=not options.no_profile,
            )
        )


if __name__ == "__main__":
    main()
