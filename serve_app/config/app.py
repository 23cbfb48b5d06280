"""The `args` of the pixelray application in a serve config, and what spans its sections."""

import math
import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from deployments.scraper.config import ScraperConfig
from deployments.serve_options import DeploymentOptions
from serve_app.config.chains import Chains, rename_routes_key
from serve_app.config.common import StrictModel
from serve_app.config.jobs import HeroConfig, WebhookConfig
from serve_app.config.models import EnhancerConfig, ModelConfig
from serve_app.config.plans import PlanConfig, default_plans
from serve_app.config.server import BodyLimitsConfig, ConsoleConfig, CorsConfig, LedgerConfig
from serve_app.config.storage import StorageConfig

_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


class AppConfig(StrictModel):
    """The `args` of the pixelray application in a serve config."""

    models: list[ModelConfig] = Field(min_length=1, description="The model catalog.")
    plans: list[PlanConfig] = Field(default_factory=default_plans, min_length=1, description="Plans users can be on.")
    default_plan: str | None = Field(default=None, description="Plan of new users; the first plan if unset.")
    default_model: str | None = Field(
        default=None, description="Slug used when a request names none; the first model if unset."
    )
    database_url: str = Field(
        default="sqlite:///.pixelray/pixelray.db",
        description="SQLAlchemy URL: sqlite:///PATH or postgresql://USER@HOST/DB.",
    )
    public_base_url: str = Field(default="http://127.0.0.1:8000", description="Origin that clients reach the app on.")
    model_cache_dir: str | None = Field(
        default=None, description="Where built-in models are built; the user cache dir if unset."
    )
    storage: StorageConfig = Field(
        default_factory=StorageConfig, description="Where generated images are stored (a directory or S3)."
    )
    cors: CorsConfig = Field(default_factory=CorsConfig, description="Browser access from other origins.")
    hero: HeroConfig = Field(default_factory=HeroConfig, description="Page URL -> hero image jobs.")
    scraper: ScraperConfig = Field(
        default_factory=ScraperConfig, description="The scraper, through which every fetch of a user-supplied URL goes."
    )
    generation_timeout_s: float = Field(default=300.0, gt=0, description="Longest a request waits on a model.")
    migrate_on_start: bool = Field(
        default=True,
        description="Upgrade the database schema when a replica starts; production runs "
        "`pixelray db upgrade` once instead and sets this to false.",
    )
    ingress: DeploymentOptions = Field(
        default_factory=DeploymentOptions,
        description="Deployment options of the HTTP ingress; its max_ongoing_requests must "
        "cover what the models can hold, so the ingress is never their bottleneck.",
    )
    chains: Chains = Field(
        default_factory=dict,
        description="Named fallback chains of catalog slugs, e.g. `quality/fast: [sd-turbo, tiny-sd]`; "
        "a request naming a chain (GET-image `route=`) tries each model in order. Formerly `routes`, "
        "which is still read, with a warning to rename it.",
    )
    base_domain: str | None = Field(
        default=None,
        description="Domain under which `{project}.DOMAIN/image` serves a project's image URLs, "
        "e.g. `img.example.com`; unset disables host-based projects.",
    )
    project_reuse_s: float = Field(
        default=1.0,
        ge=0,
        description="How long an ingress replica reuses a project and its owner, once read, for "
        "GET-image requests instead of reading them per request: a suspension, a plan change, a new "
        "signing secret or new allowed origins take effect on image URLs within this time. 0 reads them every time.",
    )
    enhancer: EnhancerConfig = Field(
        default_factory=EnhancerConfig, description="The prompt enhancer (rules or an LLM)."
    )
    ledger: LedgerConfig = Field(
        default_factory=LedgerConfig, description="Admission leases, their reaper and idempotency keys."
    )
    body_limits: BodyLimitsConfig = Field(
        default_factory=BodyLimitsConfig, description="Request body size limits (413 above them)."
    )
    webhooks: WebhookConfig = Field(
        default_factory=WebhookConfig, description="Retries and timeouts of job webhook deliveries."
    )
    console: ConsoleConfig = Field(
        default_factory=ConsoleConfig, description="The web console at `/` (sign-up, sessions, log-in limits)."
    )

    @model_validator(mode="before")
    @classmethod
    def _routes_is_now_chains(cls, args: Any) -> Any:
        return rename_routes_key(args)

    @field_validator("base_domain")
    @classmethod
    def _base_domain(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower().rstrip(".")
        if not _DOMAIN.match(value):
            raise ValueError("use a bare host name such as img.example.com (no scheme, port or path)")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", value):
            raise ValueError("use an absolute http(s) URL such as https://images.example.com")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "sqlite+aiosqlite:", "postgresql:", "postgresql+")):
            raise ValueError("use sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB")
        return value

    @model_validator(mode="after")
    def _catalog(self) -> "AppConfig":
        slugs = [m.slug for m in self.models]
        duplicates = sorted({s for s in slugs if slugs.count(s) > 1})
        if duplicates:
            raise ValueError(f"model slugs must be unique; repeated: {', '.join(duplicates)}")
        plans = [p.slug for p in self.plans]
        repeated = sorted({s for s in plans if plans.count(s) > 1})
        if repeated:
            raise ValueError(f"plan slugs must be unique; repeated: {', '.join(repeated)}")
        if self.default_plan is not None and self.default_plan not in plans:
            raise ValueError(f"default_plan {self.default_plan!r} is not among the plans; known: {', '.join(plans)}")
        if self.hero.model is not None and self.hero.model not in slugs:
            raise ValueError(f"hero.model {self.hero.model!r} is not in the catalog; known: {', '.join(slugs)}")
        if self.default_model is not None and self.default_model not in slugs:
            raise ValueError(f"default_model {self.default_model!r} is not in the catalog; known: {', '.join(slugs)}")
        for name, chain in self.chains.items():
            unknown = [slug for slug in chain if slug not in slugs]
            if unknown:
                raise ValueError(
                    f"chain {name!r} names {', '.join(unknown)}, not in the catalog; known: {', '.join(slugs)}"
                )
        return self

    @model_validator(mode="after")
    def _ingress_fits_models(self) -> "AppConfig":
        ongoing = self.ingress.max_ongoing_requests
        needed = math.ceil(self.model_capacity() / self.ingress.min_replicas)
        if ongoing is not None and ongoing < needed:
            raise ValueError(
                f"ingress.max_ongoing_requests ({ongoing}) would make the ingress the bottleneck: "
                f"the models hold up to {self.model_capacity()} requests (running and queued, at "
                f"max replicas); set it to at least {needed} per ingress replica, or leave it unset"
            )
        return self

    def model_capacity(self) -> int:
        """Requests all models together can hold (running and queued) at their max replicas."""
        total = 0
        for model in self.models:
            options = model.serve_options()
            queued = max(options["max_queued_requests"], 0)
            total += model.deployment.max_replicas * options["max_ongoing_requests"] + queued
        return total

    def ingress_serve_options(self) -> dict[str, Any]:
        """The ingress's Serve options; unset max_ongoing_requests covers every model's capacity."""
        options = self.ingress.to_serve_options(default_max_ongoing_requests=None)
        options.setdefault(
            "max_ongoing_requests", max(256, math.ceil(self.model_capacity() / self.ingress.min_replicas))
        )
        return options

    @property
    def default_model_slug(self) -> str:
        return self.default_model or self.models[0].slug

    def model(self, slug: str) -> ModelConfig | None:
        return next((m for m in self.models if m.slug == slug), None)

    @property
    def default_plan_slug(self) -> str:
        return self.default_plan or self.plans[0].slug

    def plan(self, slug: str) -> PlanConfig | None:
        return next((p for p in self.plans if p.slug == slug), None)
