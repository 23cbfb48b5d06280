"""What every config section shares: unknown keys refused, and one rule for slugs."""

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def _check_slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError("use lowercase letters, digits and '-', starting with a letter or digit")
    return value


# A name used in requests and as a deployment or plan name.
Slug = Annotated[str, AfterValidator(_check_slug)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())
