"""What any model's text must pass before it is used as a prompt; otherwise the rules answer."""

import re
import unicodedata

from deployments.prompt_enhancer.rules import cut, enhance_with_rules, normalize
from deployments.protocol import EnhanceResult

_LABEL = re.compile(r"^(enhanced |improved |image )?prompt\s*:\s*", re.I)
_WORD = re.compile(r"\w+")
# Below this share of letters among the visible characters, text is noise, not a description.
_MIN_LETTER_SHARE = 0.6
_MIN_WORDS = 3


def clean_model_text(text: str, *, limit: int) -> str:
    """Control, format and replacement characters dropped, whitespace collapsed, a leading
    `Prompt:` label and wrapping quotes removed, cut to `limit`."""
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or (unicodedata.category(ch)[0] != "C" and ch != "\ufffd")
    )
    kept = _LABEL.sub("", normalize(kept)).strip("\"'` ")
    return cut(kept, limit)


def is_usable(text: str, *, idea: str) -> bool:
    """Enough words, mostly letters, and at least one of the idea's own words kept: an
    "enhanced" prompt that lost its subject is worse than the rules' one."""
    words = {w.lower() for w in _WORD.findall(text)}
    if len(words) < _MIN_WORDS:
        return False
    visible = [ch for ch in text if not ch.isspace()]
    if sum(ch.isalpha() for ch in visible) < _MIN_LETTER_SHARE * len(visible):
        return False
    subject = {w.lower() for w in _WORD.findall(idea) if len(w) >= 3}
    return not subject or bool(subject & words)


def guard(text: str | None, *, idea: str, tone: str, limit: int) -> EnhanceResult:
    """The model's text when usable, else the rule-based prompt; says which one it is."""
    cleaned = clean_model_text(text or "", limit=limit)
    if is_usable(cleaned, idea=idea):
        return EnhanceResult(prompt=cleaned, enhancer="llm")
    return EnhanceResult(prompt=enhance_with_rules(idea, tone, limit=limit), enhancer="rules")
