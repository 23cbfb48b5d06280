"""The application's configuration: the `args` of the serve config, validated before anything starts."""

import math
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from deployments.diffusion.config import BatchingConfig, DiffusionConfig, with_batching_defaults
from deployments.sources import check_source

APP_IMPORT_PATH = "serve_app.app:build_app"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class AutoscalingOptions(StrictModel):
    """The subset of Serve's `autoscaling_config` pixelray exposes per deployment."""

    min_replicas: int = Field(default=1, ge=0, description="Fewest replicas kept running.")
    max_replicas: int = Field(default=1, ge=1, description="Most replicas Serve may start.")
    initial_replicas: int | None = Field(default=None, ge=0, description="Replicas at start.")
    target_ongoing_requests: float | None = Field(
        default=None,
        gt=0,
        description="Ongoing requests per replica Serve scales towards. Unset: a model's "
        "max_batch_size (a replica scales out once more than one batch waits), Serve's default "
        "for the ingress.",
    )
    upscale_delay_s: float = Field(default=30.0, ge=0, description="Wait before adding replicas.")
    downscale_delay_s: float = Field(
        default=600.0, ge=0, description="Wait before removing replicas."
    )

    @model_validator(mode="after")
    def _ordered(self) -> "AutoscalingOptions":
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) must not exceed max_replicas ({self.max_replicas})"
            )
        return self


class ActorOptions(StrictModel):
    """Resources each replica reserves; fractions let several replicas share a CPU or GPU."""

    num_cpus: float = Field(default=1.0, ge=0, description="CPUs reserved per replica.")
    num_gpus: float = Field(default=0.0, ge=0, description="GPUs reserved per replica.")
    memory: int | None = Field(default=None, ge=0, description="Bytes of memory reserved.")
    resources: dict[str, float] = Field(
        default_factory=dict, description="Custom Ray resources, e.g. a node label."
    )


class DeploymentOptions(StrictModel):
    """Serve deployment options for one deployment (ingress or model)."""

    num_replicas: int | None = Field(
        default=None, ge=1, description="Fixed replica count; leave unset to use autoscaling."
    )
    autoscaling_config: AutoscalingOptions | None = Field(
        default=None, description="Autoscaling bounds; exclusive with num_replicas."
    )
    max_ongoing_requests: int | None = Field(
        default=None,
        ge=1,
        description="Requests a replica accepts at once (queued beyond). Unset: twice the model's "
        "max_batch_size (one batch runs while the next fills); for the ingress, enough for "
        "every model's replicas and queues.",
    )
    max_queued_requests: int | None = Field(
        default=None,
        ge=-1,
        description="Requests each caller queues for the deployment before answering 503 with "
        "Retry-After; -1 is unbounded. Unset: 4 × max_ongoing_requests for a model, unbounded "
        "for the ingress.",
    )
    ray_actor_options: ActorOptions = Field(default_factory=ActorOptions)
    health_check_period_s: float = Field(default=10.0, gt=0, description="Health check period.")
    health_check_timeout_s: float = Field(default=30.0, gt=0, description="Health check timeout.")

    @model_validator(mode="after")
    def _replicas_or_autoscaling(self) -> "DeploymentOptions":
        if self.num_replicas is not None and self.autoscaling_config is not None:
            raise ValueError("set either num_replicas or autoscaling_config, not both")
        return self

    @property
    def max_replicas(self) -> int:
        if self.autoscaling_config is not None:
            return self.autoscaling_config.max_replicas
        return self.num_replicas or 1

    @property
    def min_replicas(self) -> int:
        if self.autoscaling_config is not None:
            return max(1, self.autoscaling_config.min_replicas)
        return self.num_replicas or 1

    def to_serve_options(self) -> dict[str, Any]:
        options = self.model_dump(exclude_none=True)
        options["ray_actor_options"] = self.ray_actor_options.model_dump(exclude_none=True)
        if not options["ray_actor_options"]["resources"]:
            del options["ray_actor_options"]["resources"]
        if self.num_replicas is None and self.autoscaling_config is None:
            options["num_replicas"] = 1
        return options


class ModelConfig(StrictModel):
    """One entry of the model catalog: what users see and pay, and how its replicas run."""

    slug: str = Field(description="Name used in requests and as the deployment name.")
    name: str = Field(description="Display name.")
    description: str = Field(default="", description="One line for the catalog.")
    source: str = Field(
        description="`builtin:tiny-sd`, a Hugging Face repo id or a local model directory."
    )
    modes: list[Literal["text2img", "img2img"]] = Field(
        default_factory=lambda: ["text2img"], min_length=1, description="Supported modes."
    )
    supports_negative_prompt: bool = Field(default=True, description="Accepts negative_prompt.")
    default_steps: int = Field(default=20, ge=1, le=50, description="Denoising steps by default.")
    default_guidance_scale: float = Field(
        default=7.5, ge=0, le=30, description="Classifier-free guidance by default."
    )
    min_size: int = Field(default=256, ge=8, description="Smallest width or height in pixels.")
    max_size: int = Field(default=1024, ge=8, description="Largest width or height in pixels.")
    default_width: int = Field(default=512, ge=8, description="Width when none is given.")
    default_height: int = Field(default=512, ge=8, description="Height when none is given.")
    credits_per_image: int = Field(default=1, ge=0, description="Credits charged per image.")
    credits_per_megapixel: float | None = Field(
        default=None, ge=0, description="Credits per megapixel; the larger cost applies."
    )
    max_count: int = Field(default=4, ge=1, description="Most images one request may ask for.")
    device: Literal["cpu", "cuda", "auto"] = Field(default="auto", description="Where to run.")
    dtype: Literal["float32", "float16", "bfloat16"] = Field(
        default="float32", description="Weights dtype; float16 for GPUs."
    )
    num_threads: int | None = Field(default=None, ge=1, description="torch threads on CPU.")
    batching: BatchingConfig = Field(default_factory=BatchingConfig)
    deployment: DeploymentOptions = Field(default_factory=DeploymentOptions)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError("use lowercase letters, digits and '-', starting with a letter or digit")
        return value

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return check_source(value)

    @model_validator(mode="after")
    def _sizes(self) -> "ModelConfig":
        for name in ("min_size", "max_size", "default_width", "default_height"):
            if getattr(self, name) % 8:
                raise ValueError(f"{name} must be a multiple of 8, got {getattr(self, name)}")
        if self.min_size > self.max_size:
            raise ValueError("min_size must not exceed max_size")
        for name in ("default_width", "default_height"):
            if not self.min_size <= getattr(self, name) <= self.max_size:
                raise ValueError(f"{name} must lie between min_size and max_size")
        return self

    @model_validator(mode="after")
    def _batch_fits(self) -> "ModelConfig":
        ongoing = self.deployment.max_ongoing_requests
        if ongoing is not None and ongoing < self.batching.max_batch_size:
            raise ValueError(
                f"deployment.max_ongoing_requests ({ongoing}) is below batching.max_batch_size "
                f"({self.batching.max_batch_size}), so a batch could never fill; set it to at least "
                f"{2 * self.batching.max_batch_size} (one batch running, one filling) or leave it unset"
            )
        return self

    def serve_options(self) -> dict[str, Any]:
        """Serve options of this model's deployment, with the batching-aware defaults filled in."""
        return with_batching_defaults(self.deployment.to_serve_options(), self.batching)

    def credit_cost(self, *, width: int, height: int) -> int:
        """Credits for one image: the larger of the per-image and per-megapixel costs, rounded up, at least 1."""
        cost = float(self.credits_per_image)
        if self.credits_per_megapixel is not None:
            cost = max(cost, self.credits_per_megapixel * width * height / 1_000_000)
        return max(1, math.ceil(cost))

    def to_diffusion_config(self, *, cache_dir: str | None) -> DiffusionConfig:
        return DiffusionConfig(
            source=self.source,
            cache_dir=cache_dir,
            device=self.device,
            dtype=self.dtype,
            num_threads=self.num_threads,
            batching=self.batching,
        )


class PlanConfig(StrictModel):
    """What a plan allows. A limit left unset (null) is unlimited."""

    slug: str = Field(description="Name stored on users, e.g. `free`.")
    name: str = Field(description="Display name.")
    api_access: bool = Field(default=True, description="False refuses every keyed request (403).")
    requests_per_minute: int | None = Field(
        default=60, ge=1, description="Generation requests in any sliding 60 s."
    )
    requests_per_day: int | None = Field(default=None, ge=1, description="Per UTC day.")
    requests_per_month: int | None = Field(default=None, ge=1, description="Per UTC month.")
    images_per_day: int | None = Field(default=None, ge=1, description="Per UTC day.")
    images_per_month: int | None = Field(default=None, ge=1, description="Per UTC month.")
    max_concurrent: int | None = Field(
        default=4, ge=1, description="Generations of one user running at once."
    )
    max_images_per_request: int = Field(default=4, ge=1, description="Largest count per request.")
    storage: bool = Field(default=True, description="Images are stored and served by URL.")
    initial_credits: int = Field(default=0, ge=0, description="Credits granted to a new user.")

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError("use lowercase letters, digits and '-', starting with a letter or digit")
        return value


def _default_plans() -> list[PlanConfig]:
    return [PlanConfig(slug="default", name="Default", initial_credits=100)]


class StorageConfig(StrictModel):
    """Where generated images go. With `enabled: false` images come back as data URLs."""

    enabled: bool = Field(default=True, description="Store images and return hosted URLs.")
    backend: Literal["local"] = Field(default="local", description="Object store kind.")
    local_dir: str = Field(
        default=".pixelray/files", description="Directory of the local store, served at /files/."
    )


class AppConfig(StrictModel):
    """The `args` of the pixelray application in a serve config."""

    models: list[ModelConfig] = Field(min_length=1, description="The model catalog.")
    plans: list[PlanConfig] = Field(
        default_factory=_default_plans, min_length=1, description="Plans users can be on."
    )
    default_plan: str | None = Field(
        default=None, description="Plan of new users; the first plan if unset."
    )
    default_model: str | None = Field(
        default=None, description="Slug used when a request names none; the first model if unset."
    )
    database_url: str = Field(
        default="sqlite:///.pixelray/pixelray.db",
        description="SQLAlchemy URL: sqlite:///PATH or postgresql://USER@HOST/DB.",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="Origin that clients reach the app on."
    )
    model_cache_dir: str | None = Field(
        default=None, description="Where built-in models are built; the user cache dir if unset."
    )
    storage: StorageConfig = Field(default_factory=StorageConfig)
    generation_timeout_s: float = Field(
        default=300.0, gt=0, description="Longest a request waits on a model."
    )
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
            raise ValueError(
                f"default_plan {self.default_plan!r} is not among the plans; known: {', '.join(plans)}"
            )
        if self.default_model is not None and self.default_model not in slugs:
            raise ValueError(
                f"default_model {self.default_model!r} is not in the catalog; known: {', '.join(slugs)}"
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
        options = self.ingress.to_serve_options()
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


class ConfigError(ValueError):
    """A serve config the application cannot start with; the message lists every problem."""


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed at `loc` inside `model`, following nested models and lists."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if isinstance(current, type) else None
        if field is None:
            return []
        annotation = field.annotation
        for arg in getattr(annotation, "__args__", ()) or (annotation,):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                current = arg
                break
        else:
            return []
    return list(current.model_fields) if isinstance(current, type) else []


def parse_app_config(args: dict[str, Any]) -> AppConfig:
    """Validates serve config `args`, raising ConfigError that names each bad key and the fix."""
    try:
        return AppConfig.model_validate(args)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "args"
            if error["type"] == "extra_forbidden":
                allowed = ", ".join(_fields_at(AppConfig, error["loc"][:-1]))
                lines.append(f"  {key}: unknown key; allowed keys here: {allowed}")
            else:
                lines.append(f"  {key}: {error['msg'].removeprefix('Value error, ')}")
        raise ConfigError("invalid pixelray config:\n" + "\n".join(lines)) from None


def load_app_config(path: str | Path) -> AppConfig:
    """Reads and validates the pixelray application's `args` from a serve config file."""
    document = yaml.safe_load(Path(path).read_text())
    for application in (document or {}).get("applications", []):
        if application.get("import_path") == APP_IMPORT_PATH:
            return parse_app_config(application.get("args") or {})
    raise ConfigError(f"{path} has no application with import_path {APP_IMPORT_PATH}")
