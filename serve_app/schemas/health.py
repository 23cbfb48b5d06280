"""Wire models of GET /api/v1/health."""

from typing import Literal

from pydantic import BaseModel, Field


class ComponentHealth(BaseModel):
    status: Literal["ok", "error"]
    detail: str | None = Field(default=None, description="Why the component is failing.")
    latency_ms: float


class HealthData(BaseModel):
    status: Literal["healthy", "degraded"]
    components: dict[str, ComponentHealth] = Field(
        description="database, storage and one `model:<slug>` entry per catalog model."
    )
