"""The rule-based enhancer: the idea kept, the tone's terms added, the prompt limit held."""

import pytest

from deployments.prompt_enhancer.rules import TONES, enhance_with_rules
from deployments.protocol import PROMPT_MAX_CHARS


@pytest.mark.parametrize("tone", sorted(TONES))
def test_output_keeps_the_idea_and_carries_every_term_of_its_tone(tone):
    prompt = enhance_with_rules("a red fox", tone)

    style = TONES[tone]
    assert prompt.startswith("a red fox, ")
    for term in (tone, style.detail, style.setting, style.lighting, style.composition, style.quality):
        assert term in prompt


def test_tones_give_different_prompts():
    assert len({enhance_with_rules("a red fox", tone) for tone in TONES}) == len(TONES)


def test_parts_the_idea_already_chose_are_not_added():
    prompt = enhance_with_rules("a lighthouse at dusk, close-up", "cinematic")

    style = TONES["cinematic"]
    assert style.setting not in prompt and style.lighting not in prompt and style.composition not in prompt
    assert style.detail in prompt and style.quality in prompt


def test_words_that_only_contain_a_part_name_do_not_count_as_choosing_it():
    assert TONES["dark"].lighting in enhance_with_rules("a lighthouse", "dark")


@pytest.mark.parametrize("idea", ["a fox by candlelight", "a fox in moonlight", "a fox, backlit", "neon fox"])
def test_an_idea_with_its_own_light_gets_no_lighting_terms(idea):
    assert TONES["dark"].lighting not in enhance_with_rules(idea, "dark")


@pytest.mark.parametrize("idea", ["word " * 400, "x" * PROMPT_MAX_CHARS, "a fox " * 330])
def test_output_never_exceeds_the_prompt_limit(idea):
    prompt = enhance_with_rules(idea, "vintage")
    assert 0 < len(prompt) <= PROMPT_MAX_CHARS


def test_whitespace_in_the_idea_is_collapsed():
    assert enhance_with_rules("  a\n\tred   fox ", "dark").startswith("a red fox, dark style")
