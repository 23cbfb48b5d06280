"""Wire models of GET/DELETE /api/v1/jobs/{job_id}: a background job's status and progress."""

from datetime import datetime

from pydantic import BaseModel, Field


class JobProgress(BaseModel):
    stage: str = Field(description="queued, scraping, generating, rendering, storing, done (or failed, cancelled).")
    step: int
    total: int


class JobPublic(BaseModel):
    job_id: str
    kind: str
    status: str = Field(description="queued, generating, completed, failed or cancelled.")
    attempt: int
    max_attempts: int
    progress: JobProgress
    url_id: str | None
    style: str
    style_used: str | None
    prompt: str | None
    image_url: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
