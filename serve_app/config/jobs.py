"""Background work: hero-image jobs and webhook deliveries."""

from pydantic import Field

from deployments.serve_options import ActorOptions, DeploymentOptions
from serve_app.config.common import StrictModel


class HeroConfig(StrictModel):
    """Page URL -> hero image jobs."""

    model: str | None = Field(default=None, description="Catalog slug; the default model if unset.")
    width: int | None = Field(
        default=None, ge=8, description="Image width; ~1.9:1 landscape from the model's sizes if unset."
    )
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
