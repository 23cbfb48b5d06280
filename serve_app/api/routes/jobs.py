from fastapi import APIRouter

from serve_app.api.deps import ContextDep, CurrentUser, IdPath, JobsDep
from serve_app.schemas.common import Envelope, ErrorEnvelope
from serve_app.schemas.jobs import JobPublic

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=Envelope[JobPublic])
async def get_job(job_id: IdPath, user: CurrentUser, jobs: JobsDep, context: ContextDep) -> Envelope[JobPublic]:
    """Status and progress of one of your background jobs."""
    return Envelope(data=await jobs.get(user=user, job_id=job_id), request_id=context.request_id)


@router.delete("/{job_id}", response_model=Envelope[JobPublic], responses={409: {"model": ErrorEnvelope}})
async def cancel_job(job_id: str, user: CurrentUser, jobs: JobsDep, context: ContextDep) -> Envelope[JobPublic]:
    """Cancel a queued or running job and refund it; 409 when it already completed or failed."""
    return Envelope(data=await jobs.cancel(user=user, job_id=job_id), request_id=context.request_id)
