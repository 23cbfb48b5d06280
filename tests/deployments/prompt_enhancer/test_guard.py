"""The guard every model's text passes: cleaned, cut, and replaced by the rules when unusable."""

import pytest

from deployments.prompt_enhancer.guard import clean_model_text, guard, is_usable
from deployments.prompt_enhancer.rules import enhance_with_rules


def test_control_and_replacement_characters_are_dropped_and_whitespace_collapsed():
    text = "A red\x00 fox\x1b in\tthe\u200b snow\ufffd,\n\n golden   hour"
    assert clean_model_text(text, limit=2000) == "A red fox in the snow, golden hour"


def test_a_prompt_label_and_wrapping_quotes_are_removed():
    assert clean_model_text('  Prompt: "a red fox in snow"  ', limit=2000) == "a red fox in snow"


def test_text_is_cut_to_the_limit_at_a_word_boundary():
    text = "alpha beta gamma " * 10
    cleaned = clean_model_text(text, limit=42)
    assert 21 <= len(cleaned) <= 42 and text.startswith(cleaned) and text[len(cleaned)] == " "


def test_usable_text_from_the_model_is_used_as_it_is():
    result = guard("A red fox in fresh snow, golden hour, 85mm", idea="a red fox", tone="dark", limit=2000)
    assert (result.enhancer, result.prompt) == ("llm", "A red fox in fresh snow, golden hour, 85mm")


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   \x00\x07  ",
        "fox",
        "`\ufffds\x1cg\ufffdC\x19\ufffd\x7fM\ufffd\x1a\x18 9zmz5 >t %~ #@ 12 77",
        "a beautiful scene with mountains and a lake",
    ],
    ids=["none", "empty", "control-only", "one-word", "noise", "lost-the-subject"],
)
def test_unusable_text_falls_back_to_the_rules(text):
    result = guard(text, idea="a red fox", tone="whimsical", limit=2000)
    assert result.enhancer == "rules"
    assert result.prompt == enhance_with_rules("a red fox", "whimsical")


def test_an_idea_of_only_short_words_accepts_any_wordy_text():
    assert is_usable("a cat sitting on a mat", idea="an ox")
