"""Asking the Scraper deployment, where every egress rule lives, whether a user's URL may be used."""

from typing import Any

from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

from deployments.protocol import FetchError
from serve_app.errors import InvalidRequest, ServiceUnavailable
from serve_app.services.models import unwrap


async def check_url(scraper: Any, url: str, *, field: str, method: str = "check_url") -> None:
    """InvalidRequest naming `field` when the scraper's `method` refuses `url`; ServiceUnavailable
    when the scraper cannot answer (busy, or a replica restarting), so the client retries."""
    try:
        await getattr(scraper, method).remote(url)
    except FetchError as exc:
        raise InvalidRequest(field=field, message=str(unwrap(exc))) from None
    except (BackPressureError, DeploymentUnavailableError, RayActorError):
        raise ServiceUnavailable("the URL checker is busy or restarting; retry shortly", retry_after=5) from None
