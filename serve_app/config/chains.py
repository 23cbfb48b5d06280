"""Fallback chains: named, ordered lists of catalog slugs (`chains:`), formerly the `routes:` key."""

import logging
import re
from typing import Annotated, Any

from pydantic import AfterValidator

logger = logging.getLogger(__name__)

_CHAIN_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}/[a-z0-9][a-z0-9-]{0,30}$")


def _check_chains(value: dict[str, list[str]]) -> dict[str, list[str]]:
    for name, slugs in value.items():
        if not _CHAIN_NAME.match(name):
            raise ValueError(
                f"chain name {name!r}: use `family/tier` in lowercase letters, digits and '-', e.g. quality/fast"
            )
        if not slugs:
            raise ValueError(f"chain {name!r} lists no models; give at least one catalog slug")
        if len(set(slugs)) != len(slugs):
            raise ValueError(f"chain {name!r} lists a model twice; list each slug once")
    return value


# Whether each slug is in the catalog is checked by AppConfig, which holds both.
Chains = Annotated[dict[str, list[str]], AfterValidator(_check_chains)]


def rename_routes_key(args: Any) -> Any:
    """`args` with the old `routes:` key renamed to `chains:`, logging that the config should say
    `chains`; both at once are refused, as one would silently lose the other."""
    if not isinstance(args, dict) or "routes" not in args:
        return args
    if "chains" in args:
        raise ValueError("`routes` is the old name of `chains`: keep only `chains`")
    logger.warning(
        "the config key `routes` is deprecated: rename it to `chains` (same value); "
        "a later release will refuse `routes`"
    )
    renamed = {key: value for key, value in args.items() if key != "routes"}
    renamed["chains"] = args["routes"]
    return renamed
