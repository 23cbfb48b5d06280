"""Wire models of the hero-image flow: submit a page URL, browse its images (its job: schemas/jobs.py)."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from serve_app.schemas.common import JsonPattern, StrictRequest, Text
from serve_app.schemas.webhooks import WEBHOOK_URL_DESCRIPTION, check_webhook_url
from serve_app.services.hero.styles import STYLES, TEXT_TREATMENTS


class HeroRequest(StrictRequest):
    url: Annotated[Text, JsonPattern("^[hH][tT][tT][pP][sS]?://")] = Field(
        min_length=1, max_length=2048, description="The page to make a hero image for (http or https)."
    )
    style: str = Field(default="auto", description=f"One of: {', '.join(STYLES)}.")
    text_treatment: str = Field(default="none", description=f"One of: {', '.join(TEXT_TREATMENTS)}.")
    webhook_url: str | None = Field(default=None, max_length=2048, description=WEBHOOK_URL_DESCRIPTION)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        return check_webhook_url(value)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("style")
    @classmethod
    def _style(cls, value: str) -> str:
        if value not in STYLES:
            raise ValueError(f"unknown style {value!r}; allowed: {', '.join(STYLES)}")
        return value

    @field_validator("text_treatment")
    @classmethod
    def _treatment(cls, value: str) -> str:
        if value not in TEXT_TREATMENTS:
            raise ValueError(f"unknown text_treatment {value!r}; allowed: {', '.join(TEXT_TREATMENTS)}")
        return value


class HeroAccepted(BaseModel):
    url_id: str
    image_url: str = Field(description="Stable URL: 404 until the first image is ready, then a redirect to the newest.")
    status: str = "generating"
    job_id: str = Field(description="Follow progress at /api/v1/jobs/{job_id}.")


class HeroImagePublic(BaseModel):
    image_id: str
    style: str
    text_treatment: str
    status: str
    created_at: datetime
    direct_url: str | None = Field(description="The stored image, once completed.")


class UrlItem(BaseModel):
    url_id: str
    url: str
    title: str
    image_url: str
    created_at: datetime
    images: list[HeroImagePublic]


class UrlList(BaseModel):
    urls: list[UrlItem]
    total: int
    limit: int
    offset: int
