"""The text types every free-text input goes through, and strict request types."""

import pytest
from pydantic import ValidationError

from serve_app.schemas.account import SettingsUpdate
from serve_app.schemas.generate import GenerateRequest
from serve_app.schemas.openai import ImagesGenerationRequest
from serve_app.schemas.prompts import BuildRequest, EnhanceRequest


def problem(model, body: dict) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    error = caught.value.errors()[0]
    return ".".join(str(part) for part in error["loc"]), error["msg"]


@pytest.mark.parametrize("model", [GenerateRequest, ImagesGenerationRequest, EnhanceRequest])
@pytest.mark.parametrize("prompt", [" ", "\n\t ", "\u3000"])
def test_a_prompt_of_only_whitespace_is_refused(model, prompt):
    field, message = problem(model, {"prompt": prompt})
    assert field == "prompt" and "only whitespace" in message


@pytest.mark.parametrize("model", [GenerateRequest, ImagesGenerationRequest, EnhanceRequest])
@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85"])
def test_a_prompt_with_a_control_character_is_refused_naming_it(model, char):
    field, message = problem(model, {"prompt": f"a red{char}fox"})
    assert field == "prompt" and f"U+{ord(char):04X}" in message and "position 5" in message


def test_a_prompt_with_a_lone_surrogate_is_refused():
    assert problem(GenerateRequest, {"prompt": "a \ud800 fox"})[0] == "prompt"


def test_line_breaks_and_tabs_are_allowed_in_a_prompt():
    assert GenerateRequest.model_validate({"prompt": "a red fox,\n\tin snow\r\n"}).prompt.startswith("a red")


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (GenerateRequest, {"prompt": "a", "negative_prompt": "blur\x00"}, "negative_prompt"),
        (ImagesGenerationRequest, {"prompt": "a", "negative_prompt": "\x00"}, "negative_prompt"),
        (BuildRequest, {"subject": "fox\x00"}, "subject"),
    ],
)
def test_other_stored_text_refuses_control_characters(model, body, field):
    assert problem(model, body)[0] == field


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (SettingsUpdate, {"storage_enabled": 0}, "storage_enabled"),
        (SettingsUpdate, {"storage_enabled": "true"}, "storage_enabled"),
        (GenerateRequest, {"prompt": "a", "seed": False}, "seed"),
        (GenerateRequest, {"prompt": "a", "count": True}, "count"),
        (GenerateRequest, {"prompt": "a", "width": "64"}, "width"),
        (GenerateRequest, {"prompt": "a", "seed": 1.5}, "seed"),
        (GenerateRequest, {"prompt": "a", "enhance": 1}, "enhance"),
        (ImagesGenerationRequest, {"prompt": "a", "n": True}, "n"),
    ],
)
def test_bools_and_integers_are_strict(model, body, field):
    assert problem(model, body)[0] == field


def test_an_integer_is_still_a_number():
    assert GenerateRequest.model_validate({"prompt": "a", "guidance_scale": 7}).guidance_scale == 7


def test_a_float_without_a_fraction_is_an_integer_as_in_json_schema():
    request = ImagesGenerationRequest.model_validate({"prompt": "a", "seed": 327.0, "n": 2.0})
    assert (request.seed, request.n) == (327, 2) and isinstance(request.seed, int)


def test_a_validator_message_is_not_followed_by_the_length_bounds():
    from serve_app.schemas.validation import invalid_request

    with pytest.raises(ValidationError) as caught:
        BuildRequest.model_validate({"art_style": "oil\x13"})
    message = invalid_request(caught.value, BuildRequest).message
    assert "U+0013" in message and "characters)" not in message


def test_an_image_that_is_neither_a_url_nor_a_data_url_is_refused_before_any_work():
    field, message = problem(GenerateRequest, {"prompt": "a", "mode": "img2img", "image": "file:///etc/passwd"})
    assert field == "image" and "data: URL" in message
