"""The rule-based prompt enhancer: no model, pure Python, so the ingress can use it directly.

It keeps the idea as written and appends subject detail, setting, lighting, composition and
quality terms shaped by the tone, skipping a part the idea already covers.
"""

import re
from dataclasses import dataclass

from deployments.protocol import PROMPT_MAX_CHARS


@dataclass(frozen=True)
class Tone:
    detail: str
    setting: str
    lighting: str
    composition: str
    quality: str


TONES: dict[str, Tone] = {
    "photographic": Tone(
        detail="true-to-life textures and fine detail",
        setting="in a natural real-world setting",
        lighting="soft natural daylight",
        composition="shot on a 50mm lens, balanced composition",
        quality="high resolution, professional photography",
    ),
    "cinematic": Tone(
        detail="expressive, richly detailed subject",
        setting="in an atmospheric film-set environment",
        lighting="moody cinematic lighting with volumetric light",
        composition="wide cinematic framing, shallow depth of field",
        quality="film still, color graded, 35mm film grain",
    ),
    "artistic": Tone(
        detail="stylized forms with visible brushwork",
        setting="in an imaginative painted scene",
        lighting="warm painterly light",
        composition="harmonious composition, rule of thirds",
        quality="fine art, gallery quality, masterpiece",
    ),
    "whimsical": Tone(
        detail="playful, charming details",
        setting="in a storybook fairy-tale world",
        lighting="soft pastel glow",
        composition="centered, friendly composition",
        quality="whimsical illustration, highly detailed",
    ),
    "dark": Tone(
        detail="ominous, weathered details",
        setting="in a shadowy gothic environment",
        lighting="low-key lighting with deep shadows",
        composition="dramatic low angle",
        quality="dark fantasy art, intricate, highly detailed",
    ),
    "vibrant": Tone(
        detail="bold shapes and energetic details",
        setting="in a lively colorful scene",
        lighting="bright saturated light",
        composition="dynamic diagonal composition",
        quality="vibrant colors, high contrast, ultra detailed",
    ),
    "minimalist": Tone(
        detail="simple clean shapes",
        setting="against a plain uncluttered background",
        lighting="even diffused light",
        composition="centered subject with generous negative space",
        quality="minimalist design, crisp, high quality",
    ),
    "vintage": Tone(
        detail="nostalgic period details",
        setting="in a retro mid-century setting",
        lighting="warm faded sunlight",
        composition="classic snapshot framing",
        quality="vintage film photograph, muted tones, film grain",
    ),
}
DEFAULT_TONE = "photographic"

# An idea that already names one of these has chosen that part itself.
_COVERED = {
    "setting": re.compile(r"\b(in|at|on|inside|under|over|background|landscape|room|city|forest)\b", re.I),
    "lighting": re.compile(
        r"\b(lights?|lighting|lit|backlit|glow\w*|\w*light|sunset|sunrise|golden hour|dusk|dawn|night|neon|shadows?)\b",
        re.I,
    ),
    "composition": re.compile(r"\b(close-up|portrait|wide|lens|angle|shot|framing|view|composition)\b", re.I),
}


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def cut(text: str, limit: int) -> str:
    """`text` at most `limit` characters long, cut at a word boundary when there is one."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = head.rfind(" ")
    return (head[:space] if space > limit // 2 else head).rstrip(" ,")


def enhance_with_rules(idea: str, tone: str = DEFAULT_TONE, *, limit: int = PROMPT_MAX_CHARS) -> str:
    """The idea followed by the tone's terms; never longer than `limit`."""
    style = TONES[tone]
    idea = cut(normalize(idea).rstrip(" ,."), limit)
    parts = [f"{tone} style", style.detail]
    for name in ("setting", "lighting", "composition"):
        if not _COVERED[name].search(idea):
            parts.append(getattr(style, name))
    parts.append(style.quality)
    prompt = idea
    for part in parts:
        if len(prompt) + 2 + len(part) > limit:
            break
        prompt = f"{prompt}, {part}"
    return prompt
