"""Component checks behind GET /api/v1/health."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial

from serve_app.config import AppConfig
from serve_app.db.session import Database
from serve_app.schemas.health import ComponentHealth, HealthData
from serve_app.services.models import ModelClient
from serve_app.storage.base import ObjectStore

CHECK_TIMEOUT_S = 5.0


async def _timed(check: Callable[[], Awaitable[None]]) -> ComponentHealth:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT_S)
        status, detail = "ok", None
    except TimeoutError:
        status, detail = "error", f"no answer within {CHECK_TIMEOUT_S:g} s"
    except Exception as exc:
        status, detail = "error", f"{type(exc).__name__}: {exc}"[:300]
    return ComponentHealth(status=status, detail=detail, latency_ms=round((time.perf_counter() - started) * 1000, 1))


async def check_health(*, config: AppConfig, db: Database, store: ObjectStore, models: ModelClient) -> HealthData:
    """Checks every component concurrently; degraded when any fails."""
    checks: dict[str, Callable[[], Awaitable[None]]] = {"database": db.check, "storage": store.check}
    for model in config.models:
        checks[f"model:{model.slug}"] = partial(models.check, model.slug)
    results = await asyncio.gather(*(_timed(check) for check in checks.values()))
    components = dict(zip(checks, results, strict=True))
    healthy = all(c.status == "ok" for c in components.values())
    return HealthData(status="healthy" if healthy else "degraded", components=components)
