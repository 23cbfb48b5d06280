"""Shared fixtures: databases (SQLite and PostgreSQL), the tiny model, and one Serve app per run."""

import asyncio
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from serve_app.db.session import Database
from tests.factories import app_args

os.environ.setdefault("HF_HUB_OFFLINE", "1")
POSTGRES_ADMIN_URL = os.environ.get("PIXELRAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("PIXELRAY_REQUIRE_POSTGRES") == "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from deployments.builtin_models import builtin_model_path

    cache = tmp_path_factory.mktemp("models")
    builtin_model_path("tiny-sd", cache)
    return cache


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped afterwards."""
    import psycopg

    name = f"pixelray_test_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (PIXELRAY_REQUIRE_POSTGRES=1) but unreachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database of each supported kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/test.db"
    else:
        url = request.getfixturevalue("postgres_url")
    database = Database(url)
    await database.create_schema()
    try:
        yield database
    finally:
        if request.param == "postgresql":
            from sqlmodel import SQLModel

            async with database.engine.begin() as connection:
                await connection.run_sync(SQLModel.metadata.drop_all)
        await database.dispose()


class ServeApp:
    """The running application: its base URL, its config args and its database."""

    def __init__(self, base_url: str, args: dict, db: Database):
        self.base_url = base_url
        self.args = args
        self.db = db


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """One Ray cluster for the whole run; every Serve test shares it."""
    import ray
    from ray import serve

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}},
    )
    yield
    serve.shutdown()
    ray.shutdown()


@pytest.fixture(scope="session")
async def serve_app(
    ray_cluster: None, tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path
) -> AsyncIterator[ServeApp]:
    """The real pixelray application, started once with the tiny model, reached over HTTP."""
    from ray import serve

    from serve_app.app import build_app

    port = free_port()
    tmp_dir = tmp_path_factory.mktemp("serve")
    base_url = f"http://127.0.0.1:{port}"
    args = app_args(tmp_dir=str(tmp_dir), model_cache_dir=str(model_cache_dir), public_base_url=base_url)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app(args), name="pixelray", route_prefix="/", blocking=False)
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(base_url=base_url) as client:
        while True:
            try:
                if (await client.get("/api/v1/health")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the Serve application did not become healthy within 120 s")
            await asyncio.sleep(0.5)
    db = Database(args["database_url"])
    yield ServeApp(base_url, args, db)
    await db.dispose()
    serve.delete("pixelray")


@pytest.fixture
async def api(serve_app: ServeApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=serve_app.base_url, timeout=120) as client:
        yield client
