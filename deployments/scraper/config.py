"""The scraper deployment's config. Importable without network libraries doing anything."""

import ipaddress
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from deployments.serve_options import ActorOptions, DeploymentOptions


class ScraperConfig(BaseModel):
    """The scraper deployment: every server-side fetch of a user-supplied URL goes through it."""

    model_config = ConfigDict(extra="forbid")

    allow_list: tuple[str, ...] = Field(
        default=(),
        description="Host names or CIDR networks that may be fetched although not public (tests, "
        "private deployments). Empty by default: only public addresses are fetched.",
    )
    deployment: DeploymentOptions = Field(
        default_factory=lambda: DeploymentOptions(num_replicas=1, ray_actor_options=ActorOptions(num_cpus=0)),
        description="Serve options of the scraper; it waits on the network, so it reserves no CPU.",
    )

    @field_validator("allow_list")
    @classmethod
    def _entries(cls, entries: tuple[str, ...]) -> tuple[str, ...]:
        for entry in entries:
            if "/" in entry:
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"{entry!r} is not a CIDR network like 10.0.0.0/8") from None
            elif not re.match(r"^[A-Za-z0-9.-]+$", entry):
                raise ValueError(f"{entry!r} is not a host name; use e.g. intranet.example.com or 10.0.0.0/8")
        return entries

    def serve_options(self) -> dict[str, Any]:
        """Serve's options for the scraper deployment."""
        return self.deployment.to_serve_options()
