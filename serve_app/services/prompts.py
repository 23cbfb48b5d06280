"""Prompt tools: enhance an idea (LLM deployment or rules) and assemble one from parts."""

import asyncio
import logging
from typing import Any

from deployments.prompt_enhancer.rules import cut, enhance_with_rules, normalize
from deployments.protocol import PROMPT_MAX_CHARS, EnhanceParams, EnhanceResult, PageInfo
from serve_app.schemas.prompts import BUILD_FIELDS

logger = logging.getLogger("ray.serve")

_SUFFIXES = {"mood": "mood", "art_style": "style"}


class PromptService:
    """Enhances with the LLM deployment when one is configured (`handle`), else with the rules.

    Enhancement is best effort: when the deployment is down or slow the rules answer, and the
    result says so (`enhancer: rules`).
    """

    def __init__(self, handle: Any | None, *, timeout_s: float):
        self._handle = handle
        self._timeout_s = timeout_s

    @property
    def uses_llm(self) -> bool:
        return self._handle is not None

    async def enhance(self, *, prompt: str, tone: str, seed: int | None = None) -> EnhanceResult:
        """A richer prompt for `prompt`, at most PROMPT_MAX_CHARS long."""
        if self._handle is None:
            return EnhanceResult(prompt=enhance_with_rules(prompt, tone), enhancer="rules")
        response = self._handle.enhance.remote(EnhanceParams(prompt=prompt, tone=tone, seed=seed))
        try:
            return await asyncio.wait_for(_awaited(response), timeout=self._timeout_s)
        except Exception as exc:
            if isinstance(exc, TimeoutError):
                response.cancel()
            logger.warning("prompt enhancer unavailable, using the rules: %r", exc)
            return EnhanceResult(prompt=enhance_with_rules(prompt, tone), enhancer="rules")

    async def page_prompt(self, page: PageInfo, *, tone: str) -> EnhanceResult | None:
        """An image prompt written by the LLM from a page's content; None without an LLM, so
        the caller keeps its own templates."""
        if self._handle is None:
            return None
        parts = [page.title, page.headline, page.description, *page.keywords[:8], *page.paragraphs[:2]]
        idea = cut(normalize(". ".join(p for p in parts if p)), PROMPT_MAX_CHARS)
        if not idea:
            return None
        return await self.enhance(prompt=idea, tone=tone)


def build_prompt(fields: dict[str, str | None]) -> str:
    """Joins the given parts in reading order; `mood` and `art_style` are labelled unless they
    already say so. At most PROMPT_MAX_CHARS long."""
    parts = []
    for name in BUILD_FIELDS:
        value = normalize(fields.get(name) or "").strip(" ,.")
        if not value:
            continue
        suffix = _SUFFIXES.get(name)
        if suffix and suffix not in value.lower().split():
            value = f"{value} {suffix}"
        parts.append(value)
    return cut(", ".join(parts), PROMPT_MAX_CHARS)


async def _awaited(response: Any) -> Any:
    return await response
