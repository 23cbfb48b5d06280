"""The application's configuration: the `args` of the serve config, validated before anything starts."""

import ipaddress
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from deployments.diffusion.adapters import AdapterSource
from deployments.diffusion.config import BatchingConfig, DiffusionConfig, with_batching_defaults
from deployments.prompt_enhancer.config import PromptEnhancerConfig
from deployments.sources import BUILTIN_ADAPTERS, BUILTIN_LMS, check_source

APP_IMPORT_PATH = "serve_app.app:build_app"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ROUTE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}/[a-z0-9][a-z0-9-]{0,30}$")
_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def _check_slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError("use lowercase letters, digits and '-', starting with a letter or digit")
    return value


# A name used in requests and as a deployment or plan name.
Slug = Annotated[str, AfterValidator(_check_slug)]


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

    def to_serve_options(self, *, default_max_ongoing_requests: int | None = 16) -> dict[str, Any]:
        """Serve's options; an unset max_ongoing_requests becomes `default_max_ongoing_requests`
        (None leaves it to the caller, as models and the ingress derive theirs)."""
        options = self.model_dump(exclude_none=True)
        if "max_ongoing_requests" not in options and default_max_ongoing_requests is not None:
            options["max_ongoing_requests"] = default_max_ongoing_requests
        options["ray_actor_options"] = self.ray_actor_options.model_dump(exclude_none=True)
        if not options["ray_actor_options"]["resources"]:
            del options["ray_actor_options"]["resources"]
        if self.num_replicas is None and self.autoscaling_config is None:
            options["num_replicas"] = 1
        return options


def check_batches_can_fill(deployment: DeploymentOptions, batching: BatchingConfig) -> None:
    """Refuses a max_ongoing_requests below max_batch_size: a batch could never fill."""
    ongoing = deployment.max_ongoing_requests
    if ongoing is not None and ongoing < batching.max_batch_size:
        raise ValueError(
            f"deployment.max_ongoing_requests ({ongoing}) is below batching.max_batch_size "
            f"({batching.max_batch_size}), so a batch could never fill; set it to at least "
            f"{2 * batching.max_batch_size} (one batch running, one filling) or leave it unset"
        )


def batched_serve_options(deployment: DeploymentOptions, batching: BatchingConfig) -> dict[str, Any]:
    """Serve options of a batching deployment: what the config sets, and limits derived from
    its batching for what it leaves unset (`with_batching_defaults`)."""
    return with_batching_defaults(deployment.to_serve_options(default_max_ongoing_requests=None), batching)


class AdapterConfig(StrictModel):
    """A LoRA adapter of one catalog model, which requests name in `loras`."""

    slug: Slug = Field(description="Name used in requests' `loras`.")
    name: str = Field(description="Display name.")
    description: str = Field(default="", description="One line for the catalog.")
    source: str = Field(
        description="`builtin:tiny-lora`, a Hugging Face repo id or a local directory holding LoRA weights."
    )
    weight_name: str | None = Field(
        default=None,
        description="The weights file inside `source` (e.g. `pixel-art.safetensors`) when it holds several.",
    )
    default_weight: float = Field(
        default=1.0,
        ge=-2,
        le=2,
        description="Strength used when a request gives no weight; 0 leaves the model unchanged.",
    )
    credits_per_image: int = Field(default=0, ge=0, description="Credits added to each image drawn with it.")

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return check_source(value, BUILTIN_ADAPTERS)


Mode = Literal["text2img", "img2img", "inpaint", "upscale"]


class ModelConfig(StrictModel):
    """One entry of the model catalog: what users see and pay, and how its replicas run."""

    slug: Slug = Field(description="Name used in requests and as the deployment name.")
    name: str = Field(description="Display name.")
    description: str = Field(default="", description="One line for the catalog.")
    source: str = Field(
        description="`builtin:tiny-sd`, a Hugging Face repo id or a local model directory."
    )
    modes: list[Mode] = Field(
        default_factory=lambda: list[Mode](["text2img"]),
        min_length=1,
        description="Supported modes; `upscale` (an upscaler such as stable-diffusion-x4-upscaler, "
        "serving POST /api/v1/upscale) stands alone.",
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
    adapters: list[AdapterConfig] = Field(
        default_factory=list, description="LoRA adapters requests may apply to this model (`loras`)."
    )
    max_loaded_adapter_sets: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Adapter sets (the adapters one request names) each replica keeps loaded; the least "
        "recently used is unloaded first. Requests are routed to a replica holding theirs.",
    )

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return check_source(value)

    @field_validator("adapters")
    @classmethod
    def _unique_adapters(cls, value: list[AdapterConfig]) -> list[AdapterConfig]:
        slugs = [adapter.slug for adapter in value]
        repeated = sorted({slug for slug in slugs if slugs.count(slug) > 1})
        if repeated:
            raise ValueError(f"adapter slugs must be unique per model; repeated: {', '.join(repeated)}")
        return value

    @field_validator("modes")
    @classmethod
    def _upscale_alone(cls, value: list[str]) -> list[str]:
        if "upscale" in value and len(value) > 1:
            raise ValueError("an upscaler does only `upscale`: give modes: [upscale], or list it as its own model")
        return value

    def adapter(self, slug: str) -> AdapterConfig | None:
        return next((a for a in self.adapters if a.slug == slug), None)

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
        check_batches_can_fill(self.deployment, self.batching)
        return self

    def serve_options(self) -> dict[str, Any]:
        """Serve options of this model's deployment, with the batching-aware defaults filled in."""
        return batched_serve_options(self.deployment, self.batching)

    def credit_cost(self, *, width: int, height: int, adapters: Sequence[str] = ()) -> int:
        """Credits for one image: the larger of the per-image and per-megapixel costs, rounded up, at
        least 1, plus the surcharge of each adapter in `adapters`."""
        cost = float(self.credits_per_image)
        if self.credits_per_megapixel is not None:
            cost = max(cost, self.credits_per_megapixel * width * height / 1_000_000)
        surcharge = sum(adapter.credits_per_image for adapter in self.adapters if adapter.slug in adapters)
        return max(1, math.ceil(cost)) + surcharge

    def to_diffusion_config(self, *, cache_dir: str | None) -> DiffusionConfig:
        return DiffusionConfig(
            source=self.source,
            cache_dir=cache_dir,
            device=self.device,
            dtype=self.dtype,
            num_threads=self.num_threads,
            batching=self.batching,
            upscaler="upscale" in self.modes,
            adapters={a.slug: AdapterSource(source=a.source, weight_name=a.weight_name) for a in self.adapters},
            max_loaded_adapter_sets=self.max_loaded_adapter_sets,
        )


class PlanConfig(StrictModel):
    """What a plan allows. A limit left unset (null) is unlimited."""

    slug: Slug = Field(description="Name stored on users, e.g. `free`.")
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
    max_batch_items: int = Field(
        default=10, ge=1, description="Most `items` one batch request may carry."
    )
    storage: bool = Field(default=True, description="Images are stored and served by URL.")
    initial_credits: int = Field(default=0, ge=0, description="Credits granted to a new user.")


def _default_plans() -> list[PlanConfig]:
    return [PlanConfig(slug="default", name="Default", initial_credits=100)]


class S3Config(StrictModel):
    """An S3 bucket (MinIO in production) reached through the `minio` SDK."""

    endpoint: str = Field(description="`host:port` of the S3 API, e.g. `minio.pixelray.svc:9000`.")
    bucket: str = Field(min_length=3, max_length=63, description="Bucket holding the images.")
    region: str = Field(
        default="us-east-1", description="Bucket region; also spares a location lookup when presigning."
    )
    secure: bool = Field(default=True, description="HTTPS to the endpoint.")
    access_key: str | None = Field(
        default=None, description="Access key; prefer the PIXELRAY_S3_ACCESS_KEY environment variable."
    )
    secret_key: str | None = Field(
        default=None, description="Secret key; prefer the PIXELRAY_S3_SECRET_KEY environment variable."
    )
    public_base_url: str | None = Field(
        default=None,
        description="Public origin (and path) the bucket is readable at; image URLs are "
        "`{public_base_url}/{key}`. Unset: presigned URLs.",
    )
    presign_expiry_s: int = Field(
        default=7 * 24 * 3600, ge=60, le=7 * 24 * 3600, description="Lifetime of presigned URLs (at most 7 days)."
    )
    create_bucket: bool = Field(default=True, description="Create the bucket at start when it is missing.")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if "://" in value or "/" in value:
            raise ValueError("give host:port only, e.g. minio:9000; use `secure` for https")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _public_base_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", value):
            raise ValueError("use an absolute http(s) URL such as https://cdn.example.com/pixelray")
        return value.rstrip("/") if value else value


class HeroConfig(StrictModel):
    """Page URL -> hero image jobs."""

    model: str | None = Field(default=None, description="Catalog slug; the default model if unset.")
    width: int | None = Field(default=None, ge=8, description="Image width; ~1.9:1 landscape from the model's sizes if unset.")
    height: int | None = Field(default=None, ge=8, description="Image height; see width.")
    max_attempts: int = Field(default=3, ge=1, le=10, description="Tries before a job fails and is refunded.")
    lease_s: float = Field(default=120.0, ge=5, description="How long a worker owns a job without renewing it.")
    poll_interval_s: float = Field(default=1.0, gt=0, description="How often an idle worker looks for jobs.")
    concurrency: int = Field(default=4, ge=1, description="Jobs one worker replica runs at once.")
    worker: DeploymentOptions = Field(
        default_factory=lambda: DeploymentOptions(num_replicas=1, ray_actor_options=ActorOptions(num_cpus=0)),
        description="Deployment options of the job worker.",
    )


class WebhookConfig(StrictModel):
    """Delivery of job events to users' webhook URLs (through the scraper's egress rules)."""

    max_attempts: int = Field(default=8, ge=1, le=20, description="Tries before a delivery is marked failed.")
    backoff_base_s: float = Field(
        default=10.0, gt=0, description="Wait after the first failed try; it doubles with every further one."
    )
    backoff_max_s: float = Field(default=3600.0, gt=0, description="The longest wait between two tries.")
    timeout_s: float = Field(default=10.0, gt=0, le=60, description="Longest one try waits for the receiver.")
    concurrency: int = Field(default=8, ge=1, description="Deliveries one worker replica sends at once.")


class ScraperOptions(StrictModel):
    """The scraper deployment: every server-side fetch of a user-supplied URL goes through it."""

    allow_list: list[str] = Field(
        default_factory=list,
        description="Host names or CIDR networks that may be fetched although not public (tests, "
        "private deployments). Empty by default: only public addresses are fetched.",
    )
    deployment: DeploymentOptions = Field(
        default_factory=lambda: DeploymentOptions(num_replicas=1, ray_actor_options=ActorOptions(num_cpus=0)),
        description="Deployment options of the scraper.",
    )

    @field_validator("allow_list")
    @classmethod
    def _entries(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            if "/" in entry:
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"{entry!r} is not a CIDR network like 10.0.0.0/8") from None
            elif not re.match(r"^[A-Za-z0-9.-]+$", entry):
                raise ValueError(f"{entry!r} is not a host name; use e.g. intranet.example.com or 10.0.0.0/8")
        return entries


class StorageConfig(StrictModel):
    """Where generated images go. With `enabled: false` images come back as data URLs."""

    enabled: bool = Field(default=True, description="Store images and return hosted URLs.")
    backend: Literal["local", "s3"] = Field(
        default="local", description="`local` (a directory served by the app) or `s3` (MinIO or any S3)."
    )
    local_dir: str = Field(
        default=".pixelray/files", description="Directory of the local store, served at /files/."
    )
    s3: S3Config | None = Field(default=None, description="The bucket, when `backend: s3`.")

    @model_validator(mode="after")
    def _backend_settings(self) -> "StorageConfig":
        if self.backend == "s3" and self.s3 is None:
            raise ValueError("backend s3 needs an `s3:` section with at least endpoint and bucket")
        return self


class CorsConfig(StrictModel):
    """Browser access to the API from other origins."""

    strict_origins: bool = Field(
        default=False, description="Only `allowed_origins` may call the API from a browser; otherwise any origin may."
    )
    allowed_origins: list[str] = Field(
        default_factory=list, description="Origins such as `https://app.example.com`, used when strict."
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(f"{origin!r} is not an origin; use scheme://host[:port] with no path")
        return value


class EnhancerConfig(StrictModel):
    """The prompt enhancer: rules in the ingress (no model), or a causal LM on its own deployment."""

    backend: Literal["rules", "llm"] = Field(
        default="rules", description="`rules` needs no model; `llm` runs `source` on a deployment."
    )
    source: str = Field(
        default="builtin:tiny-lm",
        description="`builtin:tiny-lm`, a Hugging Face causal LM repo id or a local directory (llm only).",
    )
    max_new_tokens: int = Field(
        default=128, ge=1, le=1024, description="Most tokens the model may write per prompt."
    )
    temperature: float = Field(default=0.7, ge=0, le=2, description="Sampling temperature; 0 is greedy.")
    device: Literal["cpu", "cuda", "auto"] = Field(default="auto", description="Where to run.")
    dtype: Literal["float32", "float16", "bfloat16"] = Field(
        default="float32", description="Weights dtype; float16 for GPUs."
    )
    num_threads: int | None = Field(default=None, ge=1, description="torch threads on CPU.")
    timeout_s: float = Field(
        default=30.0, gt=0, description="Longest a request waits on the model before the rules answer."
    )
    batching: BatchingConfig = Field(default_factory=BatchingConfig)
    deployment: DeploymentOptions = Field(default_factory=DeploymentOptions)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return check_source(value, BUILTIN_LMS)

    @model_validator(mode="after")
    def _batch_fits(self) -> "EnhancerConfig":
        check_batches_can_fill(self.deployment, self.batching)
        return self

    def serve_options(self) -> dict[str, Any]:
        """Serve options of the LLM deployment, with the same batching-aware defaults as a model's."""
        return batched_serve_options(self.deployment, self.batching)

    def to_enhancer_config(self, *, cache_dir: str | None) -> PromptEnhancerConfig:
        return PromptEnhancerConfig(
            source=self.source,
            cache_dir=cache_dir,
            device=self.device,
            dtype=self.dtype,
            num_threads=self.num_threads,
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            batching=self.batching,
        )


class LedgerConfig(StrictModel):
    """Leases on admitted requests, the reaper that settles the ones whose ingress died, and
    idempotency keys."""

    lease_s: float = Field(
        default=60.0, ge=1, description="How long an admitted request stays charged without its ingress "
        "renewing the lease; once it lapses the reaper refunds the request and frees its slot.",
    )
    reaper_interval_s: float = Field(
        default=5.0, gt=0, description="How often the jobs worker settles lapsed leases and purges old keys."
    )
    idempotency_ttl_s: float = Field(
        default=86400.0, ge=60, description="How long an Idempotency-Key and its stored response are kept."
    )
    group_commit: bool = Field(
        default=True, description="Commit the admissions and settlements of concurrent requests together, "
        "one transaction per group; false gives each its own transaction.",
    )
    group_commit_max_ops: int = Field(default=128, ge=1, description="Most admissions or settlements in one group.")


class BodyLimitsConfig(StrictModel):
    """Largest request bodies the ingress reads; larger ones get a 413 before any of it is read."""

    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=4 * 1024,
        description="Every route but the generate routes: prompts, settings, hero and OpenAI forms.",
    )
    max_generate_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=15 * 1024 * 1024,
        description="POST /api/v1/generate and its variants, whose img2img `image` may be a 10 MiB "
        "image as a data: URL (about 14 MiB of base64); at least 15 MiB. The batch form shares it.",
    )


class ConsoleConfig(StrictModel):
    """The web console at `/`: accounts, sessions and log-in limits."""

    signup: bool = Field(
        default=True,
        description="Anyone may create an account at /signup (on the default plan, with its starting "
        "credits); false for invite-only servers, whose users come from `pixelray users create`.",
    )
    session_hours: float = Field(
        default=24 * 7, gt=0, le=24 * 90, description="How long a console log-in lasts, in hours."
    )
    login_failures_per_account: int = Field(
        default=5,
        ge=1,
        description="Bad passwords for one account in any 60 s; the next log-in to it is refused until "
        "the minute has passed.",
    )
    login_failures_per_address: int = Field(
        default=20, ge=1, description="Bad passwords from one client address in any 60 s, over all accounts."
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
    cors: CorsConfig = Field(default_factory=CorsConfig)
    hero: HeroConfig = Field(default_factory=HeroConfig)
    scraper: ScraperOptions = Field(default_factory=ScraperOptions)
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
    routes: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Named fallback chains of catalog slugs, e.g. `quality/fast: [sd-turbo, tiny-sd]`; "
        "a request naming a route tries each model in order.",
    )
    base_domain: str | None = Field(
        default=None,
        description="Domain under which `{project}.DOMAIN/image` serves a project's image URLs, "
        "e.g. `img.example.com`; unset disables host-based projects.",
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

    @field_validator("routes")
    @classmethod
    def _route_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, slugs in value.items():
            if not _ROUTE_NAME.match(name):
                raise ValueError(
                    f"route name {name!r}: use `family/tier` in lowercase letters, digits and '-', e.g. quality/fast"
                )
            if not slugs:
                raise ValueError(f"route {name!r} lists no models; give at least one catalog slug")
            if len(set(slugs)) != len(slugs):
                raise ValueError(f"route {name!r} lists a model twice; list each slug once")
        return value

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
            raise ValueError(
                f"default_plan {self.default_plan!r} is not among the plans; known: {', '.join(plans)}"
            )
        if self.hero.model is not None and self.hero.model not in slugs:
            raise ValueError(f"hero.model {self.hero.model!r} is not in the catalog; known: {', '.join(slugs)}")
        if self.default_model is not None and self.default_model not in slugs:
            raise ValueError(
                f"default_model {self.default_model!r} is not in the catalog; known: {', '.join(slugs)}"
            )
        for name, chain in self.routes.items():
            unknown = [slug for slug in chain if slug not in slugs]
            if unknown:
                raise ValueError(
                    f"route {name!r} names {', '.join(unknown)}, not in the catalog; known: {', '.join(slugs)}"
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


class ConfigError(ValueError):
    """A serve config the application cannot start with; the message lists every problem."""


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed at `loc` inside `model`, following nested models and lists."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        is_model = isinstance(current, type) and issubclass(current, BaseModel)
        field = current.model_fields.get(part) if is_model else None
        if field is None:
            return []
        annotation = field.annotation
        for arg in getattr(annotation, "__args__", ()) or (annotation,):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                current = arg
                break
        else:
            return []
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


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
