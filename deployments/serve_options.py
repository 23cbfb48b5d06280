"""Serve deployment options as a serve config sets them, for any deployment. Importable without Ray."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StrictOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AutoscalingOptions(StrictOptions):
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
    downscale_delay_s: float = Field(default=600.0, ge=0, description="Wait before removing replicas.")

    @model_validator(mode="after")
    def _ordered(self) -> "AutoscalingOptions":
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) must not exceed max_replicas ({self.max_replicas})")
        return self


class ActorOptions(StrictOptions):
    """Resources each replica reserves; fractions let several replicas share a CPU or GPU."""

    num_cpus: float = Field(default=1.0, ge=0, description="CPUs reserved per replica.")
    num_gpus: float = Field(default=0.0, ge=0, description="GPUs reserved per replica.")
    memory: int | None = Field(default=None, ge=0, description="Bytes of memory reserved.")
    resources: dict[str, float] = Field(default_factory=dict, description="Custom Ray resources, e.g. a node label.")


class DeploymentOptions(StrictOptions):
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
    ray_actor_options: ActorOptions = Field(
        default_factory=ActorOptions, description="Resources each replica reserves (CPUs, GPUs, memory)."
    )
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
