"""What the scraper deployment needs. Importable without network libraries doing anything."""

from pydantic import BaseModel, ConfigDict, Field


class ScraperConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow_list: tuple[str, ...] = Field(
        default=(),
        description="Host names or CIDR networks fetched although not public; empty by default.",
    )
