"""Hero-image styles: a prompt template each, and `auto`, which picks one from the page's topic."""

import re
from dataclasses import dataclass

from deployments.protocol import PROMPT_MAX_CHARS, PageInfo

TEXT_TREATMENTS = ("none", "overlay", "split")
# Designed cards: the model paints only a backdrop; the title is part of the design, so a
# text treatment on top would put it there twice.
PRESET_STYLES = frozenset({"soft", "dark_glass"})

_TEMPLATES = {
    "photo": "professional editorial photograph of {subject}, natural light, shallow depth of field, 35mm, sharp focus",
    "illustration": "modern editorial illustration of {subject}, clean shapes, rich harmonious colors, detailed",
    "sketch": "pencil sketch of {subject}, graphite on textured paper, expressive hatching, hand-drawn",
    "neon_geo": "{subject} as glowing neon geometric shapes, dark background, synthwave palette, crisp lines",
    "bold": "bold graphic poster of {subject}, strong contrast, flat saturated colors, striking composition",
    "cartoon": "playful cartoon of {subject}, thick outlines, bright cheerful colors, friendly characters",
    "pop_art": "pop art of {subject}, halftone dots, comic style, vivid primary colors, Lichtenstein inspired",
    "isometric": "isometric 3D illustration of {subject}, clean low-poly objects, soft shadows, pastel tech palette",
    "minimal": "minimalist composition of {subject}, generous negative space, two or three muted colors, simple forms",
    "3d_render": "3D render of {subject}, octane render, soft global illumination, glossy materials, studio backdrop",
    "cinematic": "cinematic still of {subject}, dramatic lighting, anamorphic lens, film grain, wide shot",
    "watercolor": "watercolor painting of {subject}, soft washes, bleeding pigments, textured paper, delicate",
    "line_art": "elegant line art of {subject}, single continuous line, black ink on white, minimal",
    "retro": "retro 1970s poster of {subject}, warm faded palette, grain, vintage print texture",
    "anime": "anime key visual of {subject}, cel shading, vibrant sky, detailed background, studio quality",
    "paper_cut": "layered paper cut art of {subject}, depth, soft shadows between layers, craft texture",
    "soft": "soft abstract pastel gradient background evoking {subject}, smooth blurred shapes, calm, airy",
    "dark_glass": (
        "dark abstract background evoking {subject}, deep blues and purples, glowing bokeh, glassy reflections"
    ),
}
STYLES = ("auto", *_TEMPLATES)
_NEGATIVE = "text, letters, watermark, logo, signature, blurry, low quality, deformed"

# `auto`: the first style whose topic words the page mentions most; an illustration otherwise.
_TOPICS = {
    "isometric": "kubernetes cloud software code api server data devops infrastructure gpu ai developer startup saas",
    "photo": "recipe food cooking baking bread travel hotel restaurant coffee garden wine kitchen",
    "watercolor": "watercolor painting art artist landscape flowers poetry",
    "cinematic": "film movie cinema story adventure mountains ocean documentary",
    "minimal": "finance business productivity strategy management marketing design investing",
    "anime": "anime manga game gaming japan esports",
    "cartoon": "kids children family parenting pets school",
    "retro": "history vintage retro nostalgia music vinyl classic",
    "3d_render": "product hardware gadget device phone car architecture",
}
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class HeroPrompt:
    prompt: str
    negative_prompt: str
    style: str


def page_subject(page: PageInfo) -> str:
    """The page in one line: its title (or headline), what it is about, and its tags."""
    parts = [page.title or page.headline, page.description or next(iter(page.paragraphs), "")]
    if page.keywords:
        parts.append("themes: " + ", ".join(page.keywords[:6]))
    return "; ".join(p for p in parts if p) or page.url


def pick_style(page: PageInfo) -> str:
    words = _WORD.findall(
        " ".join([page.title, page.headline, page.description, *page.keywords, *page.paragraphs]).lower()
    )
    scores = {style: sum(words.count(w) for w in topic.split()) for style, topic in _TOPICS.items()}
    best = max(scores, key=lambda style: scores[style])
    return best if scores[best] else "illustration"


_TONES = {
    "photo": "photographic",
    "cinematic": "cinematic",
    "retro": "vintage",
    "minimal": "minimalist",
    "line_art": "minimalist",
    "cartoon": "whimsical",
    "anime": "whimsical",
    "neon_geo": "vibrant",
    "pop_art": "vibrant",
    "bold": "vibrant",
    "dark_glass": "dark",
}


def tone_for(style: str) -> str:
    """The prompt enhancer's tone closest to a resolved style."""
    return _TONES.get(style, "artistic")


def build_hero_prompt(page: PageInfo, style: str, *, subject: str | None = None) -> HeroPrompt:
    """The prompt for `page` in `style` (`auto` resolved from the page's content). `subject`,
    when given (an LLM's description of the page), replaces the one drawn from the page's tags."""
    resolved = pick_style(page) if style == "auto" else style
    prompt = _TEMPLATES[resolved].format(subject=subject or page_subject(page))
    return HeroPrompt(prompt=prompt[:PROMPT_MAX_CHARS], negative_prompt=_NEGATIVE, style=resolved)
