"""Wire models of the account endpoints: usage and balance."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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
