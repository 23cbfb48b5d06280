"""Shared fixtures: databases (SQLite and PostgreSQL), the tiny model, and one Serve app per run."""

import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import text

from deployments.builtin_models import builtin_model_path
from serve_app.data_plane import DATA_PLANES, data_plane_env
from serve_app.db.migrations import upgrade_database

# Imported from the models module so that every table is registered on the metadata.
from serve_app.db.models import SQLModel
from serve_app.db.session import Database
from tests.factories import (
    STAND_IN_SAFETY,
    TEST_CHAINS,
    app_args,
    tiny_inpaint_entry,
    tiny_lm_enhancer,
    tiny_lora_entry,
    tiny_model_entry,
    tiny_safety_entry,
    tiny_upscaler_entry,
)
from tests.support.pages import PageServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
POSTGRES_ADMIN_URL = os.environ.get("PIXELRAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("PIXELRAY_REQUIRE_POSTGRES") == "1"
# The data plane the session's Ray cluster runs (docs/testing.md). Set here, before any test module
# imports Serve: this process reads the variables too (its handles' routers), not only the cluster's.
DATA_PLANE = os.environ.get("PIXELRAY_TEST_DATA_PLANE", "default")
if DATA_PLANE not in DATA_PLANES:
    raise pytest.UsageError(f"PIXELRAY_TEST_DATA_PLANE={DATA_PLANE!r}: one of {', '.join(DATA_PLANES)}")
os.environ.update(data_plane_env(DATA_PLANE))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("models")
    builtin_model_path("tiny-sd", cache)
    builtin_model_path("tiny-lm", cache)
    builtin_model_path("tiny-inpaint", cache)
    builtin_model_path("tiny-lora", cache)
    builtin_model_path("tiny-upscaler", cache)
    return cache


@pytest.fixture(scope="session")
def broken_model_dir(model_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real pipeline directory that loads but fails every generation: the tiny model with a
    scheduler whose prediction type does not exist."""
    target = tmp_path_factory.mktemp("broken") / "broken-sd"
    shutil.copytree(builtin_model_path("tiny-sd", model_cache_dir), target)
    scheduler = target / "scheduler" / "scheduler_config.json"
    scheduler.write_text(json.dumps({**json.loads(scheduler.read_text()), "prediction_type": "no-such-type"}))
    return target


@pytest.fixture(scope="session")
def pages() -> Iterator[PageServer]:
    """Realistic and hostile web pages on a loopback port."""
    with PageServer() as server:
        yield server


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
    url = f"sqlite:///{tmp_path}/test.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    database = Database(url)
    await upgrade_database(database)
    try:
        yield database
    finally:
        if request.param == "postgresql":
            # The PostgreSQL database lives for the whole run: empty it so each test starts clean.
            tables = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)
            async with database.engine.begin() as connection:
                await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await database.dispose()


class ServeApp:
    """The running application: its base URL, its config args, its database and a config file
    the CLI can read."""

    def __init__(self, base_url: str, args: dict, db: Database, config_path: Path):
        self.base_url = base_url
        self.args = args
        self.db = db
        self.config_path = config_path

    def cli(self, *argv: str) -> str:
        """Runs the `pixelray` CLI against this app's database; returns stdout."""
        return run_cli("--config", str(self.config_path), *argv)


def run_cli(*argv: str) -> str:
    result = subprocess.run([sys.executable, "-m", "serve_app.cli", *argv], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def write_serve_config(path: Path, args: dict) -> Path:
    document = {"applications": [{"name": "pixelray", "import_path": "serve_app.app:build_app", "args": args}]}
    path.write_text(yaml.safe_dump(document))
    return path


def haproxy_env(state_dir: Path) -> dict[str, str]:
    """HAProxy's files and fixed ports made this session's own: by default every cluster on the
    machine shares /tmp/haproxy-serve and ports 9101, 8404 and 8500, so two runs would collide."""
    return {
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(state_dir / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(state_dir / "admin.sock"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(state_dir),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(state_dir / "server-state"),
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(state_dir / "metrics.sock"),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()),
        "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port()),
        "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(free_port()),
        "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(free_port()),
    }


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[int]:
    """One Ray cluster for the whole run; every Serve test shares it. Yields the port of its
    Prometheus metrics endpoint."""
    import ray
    from ray import serve

    metrics_port = free_port()
    # Short: Serve puts HAProxy's sockets in a 56-character hash-named directory below it, and
    # HAProxy takes socket paths of at most 97 characters (pytest's temporary paths are too long).
    haproxy_dir = Path(tempfile.mkdtemp(prefix="hap-", dir="/tmp"))
    if DATA_PLANE == "optimized":
        os.environ.update(haproxy_env(haproxy_dir))
    ray.init(
        # "local" always starts a new cluster: a bare init would join any cluster already
        # running on the machine (a `serve run`, another test run) and then refuse num_cpus.
        address="local",
        num_cpus=2,
        include_dashboard=False,
        runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}},
        _metrics_export_port=metrics_port,
    )
    yield metrics_port
    # Serve is already shut down when the session started the app (`serve_app`, on its loop).
    serve.shutdown()
    ray.shutdown()
    shutil.rmtree(haproxy_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def serve_app(
    ray_cluster: int, tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path, broken_model_dir: Path
) -> AsyncIterator[ServeApp]:
    """The real pixelray application, started once with the tiny model, reached over HTTP."""
    from ray import serve

    from serve_app.app import build_app

    port = free_port()
    tmp_dir = tmp_path_factory.mktemp("serve")
    base_url = f"http://127.0.0.1:{port}"
    args = app_args(
        tmp_dir=str(tmp_dir),
        model_cache_dir=str(model_cache_dir),
        public_base_url=base_url,
        models=[
            tiny_model_entry(),
            tiny_model_entry("broken-sd", source=str(broken_model_dir)),
            tiny_inpaint_entry(),
            # Its replicas also run the stand-in safety checker under `flag`: one deployment fewer to start.
            tiny_lora_entry(safety={"policy": "flag", "checker": STAND_IN_SAFETY}),
            tiny_upscaler_entry(),
            # Sides up to 1024 px, for the hang-up tests' blocker (tests/integration/test_hangups_http.py).
            tiny_safety_entry("tiny-block-sd", "block", max_size=1024),
        ],
        chains=TEST_CHAINS,
        base_domain="img.test",
        # Two ingress replicas: limits must hold on shared state, not per process.
        ingress={
            "num_replicas": 2,
            "max_ongoing_requests": 512,
            "ray_actor_options": {"num_cpus": 0},
            "health_check_period_s": 1,
        },
        # The test pages live on loopback, which only the allow-list opens.
        scraper={"allow_list": ["127.0.0.1/32"], "deployment": {"ray_actor_options": {"num_cpus": 0}}},
        # A killed worker is noticed and replaced within seconds, so lease-expiry tests stay short.
        hero={
            "lease_s": 5,
            "poll_interval_s": 0.2,
            "worker": {"num_replicas": 1, "health_check_period_s": 1, "ray_actor_options": {"num_cpus": 0}},
        },
        enhancer=tiny_lm_enhancer(),
        # Short leases: a killed ingress's requests are refunded within seconds, not a minute.
        ledger={"lease_s": 5, "reaper_interval_s": 0.5},
        # Webhook retries within a test's patience: 0.3 s, 0.6 s, then 1 s apart.
        webhooks={"backoff_base_s": 0.3, "backoff_max_s": 1, "max_attempts": 4},
    )
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
    yield ServeApp(base_url, args, db, write_serve_config(tmp_dir / "serve.yaml", args))
    await db.dispose()
    # On the session's loop, which still runs: on the optimized data plane the routers of the
    # handles tests got (`serve.get_deployment_handle`) live on it, and a synchronous shutdown
    # after pytest has closed it fails with "Event loop is closed".
    await serve.shutdown_async()


@pytest.fixture
async def api(serve_app: ServeApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=serve_app.base_url, timeout=120) as client:
        yield client
