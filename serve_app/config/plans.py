"""Plans: what users on each may do."""

from pydantic import Field

from serve_app.config.common import Slug, StrictModel


class PlanConfig(StrictModel):
    """What a plan allows. A limit left unset (null) is unlimited."""

    slug: Slug = Field(description="Name stored on users, e.g. `free`.")
    name: str = Field(description="Display name.")
    api_access: bool = Field(default=True, description="False refuses every keyed request (403).")
    requests_per_minute: int | None = Field(default=60, ge=1, description="Generation requests in any sliding 60 s.")
    requests_per_day: int | None = Field(default=None, ge=1, description="Per UTC day.")
    requests_per_month: int | None = Field(default=None, ge=1, description="Per UTC month.")
    images_per_day: int | None = Field(default=None, ge=1, description="Per UTC day.")
    images_per_month: int | None = Field(default=None, ge=1, description="Per UTC month.")
    max_concurrent: int | None = Field(default=4, ge=1, description="Generations of one user running at once.")
    max_images_per_request: int = Field(default=4, ge=1, description="Largest count per request.")
    max_batch_items: int = Field(default=10, ge=1, description="Most `items` one batch request may carry.")
    storage: bool = Field(default=True, description="Images are stored and served by URL.")
    initial_credits: int = Field(default=0, ge=0, description="Credits granted to a new user.")


def default_plans() -> list[PlanConfig]:
    return [PlanConfig(slug="default", name="Default", initial_credits=100)]
