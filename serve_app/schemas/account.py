"""Wire models of the account endpoints: usage, balance and settings."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from serve_app.schemas.common import StrictRequest
from serve_app.schemas.generate import StorageInfo


class PeriodUsage(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    request_count: int = Field(alias="requestCount", description="Generation requests admitted.")
    image_count: int = Field(alias="imageCount", description="Images generated or in progress.")


class UsagePeriods(BaseModel):
    today: PeriodUsage = Field(description="The current UTC day.")
    this_month: PeriodUsage = Field(description="The current UTC month.")


class PlanUsage(BaseModel):
    name: str
    slug: str
    requests_per_month: int | None = Field(description="Null when unlimited.")
    requests_per_day: int | None = Field(description="Null when unlimited.")
    remaining_today: int | None = Field(description="Requests left today; null when unlimited.")
    remaining_month: int | None = Field(description="Requests left this month; null when unlimited.")


class UsageData(BaseModel):
    usage: UsagePeriods
    plan: PlanUsage


class BalanceData(BaseModel):
    balance: int
    currency: Literal["credits"] = "credits"


class SettingsUpdate(StrictRequest):
    storage_enabled: bool = Field(
        description="Store your images and get hosted URLs (true) or get data: URLs and store nothing (false)."
    )


class SettingsData(BaseModel):
    storage_enabled: bool = Field(description="Your preference.")
    storage: StorageInfo = Field(description="Whether images are stored, given your plan and the server.")
