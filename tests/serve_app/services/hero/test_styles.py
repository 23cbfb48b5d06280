"""Hero prompts: a template per style, and `auto` choosing one from the page's topic."""

import pytest

from deployments.protocol import PROMPT_MAX_CHARS, PageInfo
from serve_app.services.hero.styles import (
    PRESET_STYLES,
    STYLES,
    build_hero_prompt,
    pick_style,
)

SOURDOUGH = PageInfo(url="https://x/1", title="Baking sourdough at home", keywords=("bread", "baking", "recipe"))
KUBERNETES = PageInfo(url="https://x/2", headline="Scaling Kubernetes clusters", keywords=("kubernetes", "gpu"))


def test_there_are_nineteen_styles_with_auto_first() -> None:
    assert len(STYLES) == 19 and STYLES[0] == "auto"
    assert PRESET_STYLES == {"soft", "dark_glass"} < set(STYLES)


@pytest.mark.parametrize("style", STYLES[1:])
def test_each_style_puts_the_page_title_into_its_own_template(style: str) -> None:
    prompt = build_hero_prompt(SOURDOUGH, style)
    assert prompt.style == style
    assert "Baking sourdough at home" in prompt.prompt
    assert "text" in prompt.negative_prompt


def test_templates_differ_between_styles() -> None:
    prompts = {build_hero_prompt(SOURDOUGH, s).prompt for s in STYLES[1:]}
    assert len(prompts) == len(STYLES) - 1


def test_auto_picks_a_style_from_the_topic() -> None:
    assert pick_style(SOURDOUGH) == "photo"
    assert pick_style(KUBERNETES) == "isometric"
    assert build_hero_prompt(KUBERNETES, "auto").style == "isometric"


def test_auto_falls_back_to_illustration_for_an_unknown_topic() -> None:
    assert pick_style(PageInfo(url="https://x/3", title="Zyxw qrst")) == "illustration"


def test_a_page_without_content_is_described_by_its_url_and_prompts_stay_bounded() -> None:
    assert "https://x/4" in build_hero_prompt(PageInfo(url="https://x/4"), "photo").prompt
    huge = PageInfo(url="https://x/5", title="t" * 5000)
    assert len(build_hero_prompt(huge, "photo").prompt) == PROMPT_MAX_CHARS
