"""Profiles a GET-image cache hit (`GET /p/{project}/image`) in-process with pyinstrument.

The FastAPI app runs with the real SQLite database and local store; one image of SIZE×SIZE is
generated once (a model handle that answers at once with a real PNG of that size) and then
requested over and over. Requests go straight into the ASGI app (no HTTP client, no sockets),
so the CPU per hit printed is the ingress's own: middleware, query validation, the project and
owner read, the cache lookup, the store read and the response.

    python -m benchmarks.profile_hit [--requests 2000] [--concurrency 8] [--size 512]
        [--memory-cache-bytes 0] [--no-profile]

It prints wall and CPU time per hit (measured without the profiler), the time of each step of
the hit path called on its own, then the profile of a second pass.
"""

import argparse
import asyncio
import io
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

from pyinstrument import Profiler

from benchmarks import asgi
from benchmarks.profile_request import InstantHandle
from benchmarks.served import app_args


def png_of(size: int) -> bytes:
    """A PNG about as large as the tiny model's at this size (smooth noise, compress_level 1)."""
    from PIL import Image, ImageFilter

    image = Image.effect_noise((size, size), 48).convert("RGB").filter(ImageFilter.GaussianBlur(1))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


async def per_call(label: str, call: Callable[[], Awaitable], times: int) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(times):
        await call()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"  {label:<44} {wall / times * 1000:7.3f} ms wall, {cpu / times * 1000:7.3f} ms CPU")


async def profile(
    work_dir: Path, *, requests: int, concurrency: int, size: int, memory_cache_bytes: int | None, show: bool
) -> None:
    from sqlmodel import select

    from serve_app.api.main import create_app
    from serve_app.api.routes.image_url import image_response
    from serve_app.api.state import AppState, image_cache
    from serve_app.config import parse_app_config
    from serve_app.db.models import CachedImage
    from serve_app.services.projects import create_project, find_project_and_owner
    from serve_app.services.users import create_user

    args = app_args(work_dir, base_url="http://bench", max_batch_size=16, batch_wait_timeout_s=0.02, max_size=size)
    args["models"][0].update(default_width=size, default_height=size)
    if memory_cache_bytes is not None:
        args["storage"]["memory_cache_bytes"] = memory_cache_bytes
    config = parse_app_config(args)
    image = png_of(size)
    state = AppState.build(config, model_handles={"tiny-sd": InstantHandle(image)})
    await state.startup()
    created = await create_user(db=state.db, config=config, name="profile", plan="bench")
    project = await create_project(db=state.db, slug="profile", user=created.user)
    app = create_app(state)

    async def get(path: str, query: str) -> tuple[int, bytes]:
        return await asgi.call(app, "GET", path, query=query)

    path = f"/p/{project.slug}/image"
    query = urlencode({"prompt": "a cached lighthouse", "seed": 1, "format": "png"})

    status, image = await get(path, query)  # the one generation that fills the cache
    assert status == 200, status
    for _ in range(50):
        await get(path, query)

    async def waves() -> None:
        for start in range(0, requests, concurrency):
            answers = await asyncio.gather(*(get(path, query) for _ in range(min(concurrency, requests - start))))
            assert all(status == 200 for status, _ in answers), [status for status, _ in answers]

    wall, cpu = time.perf_counter(), time.process_time()
    await waves()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"cache hit {size}x{size} ({len(image)} bytes, {requests} hits, {concurrency} at a time): "
        f"{wall / requests * 1000:.3f} ms wall, {cpu / requests * 1000:.3f} ms CPU per hit "
        f"(one core's worth: {requests / cpu:.0f} hits/s)"
    )

    # The steps of the hit path on their own, one at a time.
    service = state.image_url
    async with state.db.read() as session:
        found = (await session.exec(select(CachedImage))).one()
    storage_key, cache = str(found.storage_key), image_cache(config, state.db, state.clock)
    answer = await service.serve(slug=project.slug, query=_query(query), raw_query=query, referrer=None, request_id="r")
    steps = max(200, requests // 10)
    print("steps of the hit path, each on its own:")
    await per_call("find_project_and_owner", lambda: find_project_and_owner(db=state.db, slug=project.slug), steps)
    await per_call("ImageCache.lookup (remembered)", lambda: cache.lookup(found.key), steps)
    await per_call("store.get", lambda: state.store.get(storage_key), steps)
    await per_call(
        "ImageUrlService.serve",
        lambda: service.serve(slug=project.slug, query=_query(query), raw_query=query, referrer=None, request_id="r"),
        steps,
    )
    request = _request(query)

    async def respond():
        image_response(answer, request)

    await per_call("image_response", respond, steps)

    if show:
        profiler = Profiler(interval=0.0002, async_mode="enabled")
        with profiler:
            await waves()
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    await state.shutdown()


def _query(raw: str):
    from urllib.parse import parse_qsl

    from serve_app.schemas.image_url import ImageQuery

    return ImageQuery.model_validate(dict(parse_qsl(raw)))


def _request(raw: str):
    from starlette.requests import Request

    return Request({"type": "http", "method": "GET", "path": "/", "query_string": raw.encode(), "headers": []})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8, help="Hits in flight at once.")
    parser.add_argument("--size", type=int, default=512, help="Side of the cached image.")
    parser.add_argument("--memory-cache-bytes", type=int, help="Override storage.memory_cache_bytes (0: off).")
    parser.add_argument("--no-profile", action="store_true", help="Only the timed passes.")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pixelray-profile-hit-") as tmp:
        asyncio.run(
            profile(
                Path(tmp),
                requests=options.requests,
                concurrency=options.concurrency,
                size=options.size,
                memory_cache_bytes=options.memory_cache_bytes,
                show=not options.no_profile,
            )
        )


if __name__ == "__main__":
    main()
