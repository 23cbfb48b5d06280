"""Wire models of POST /api/v1/prompt/enhance and /api/v1/prompt/build."""

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from deployments.prompt_enhancer.rules import DEFAULT_TONE, TONES
from deployments.protocol import PROMPT_MAX_CHARS
from serve_app.schemas.common import PromptText, StrictRequest, Text

# The order a built prompt reads best in: what, where, how it feels and looks, then anything else.
BUILD_FIELDS = ("subject", "setting", "mood", "art_style", "lighting", "camera", "extras")
# Built from TONES so the wire enum cannot drift from the rules; mypy reads only literal Literals.
if TYPE_CHECKING:
    Tone = str
else:
    Tone = Literal[tuple(TONES)]


def _part(description: str) -> Any:
    return Field(default=None, max_length=300, description=description)


class EnhanceRequest(StrictRequest):
    prompt: PromptText = Field(min_length=1, max_length=PROMPT_MAX_CHARS, description="The idea to expand.")
    tone: Tone = Field(default=DEFAULT_TONE, description=f"One of: {', '.join(TONES)}.")


class EnhanceData(BaseModel):
    prompt: str = Field(description="The enhanced prompt.")
    enhancer: Literal["llm", "rules"] = Field(
        description="`llm` when the language model wrote it, `rules` when the rule-based enhancer did."
    )


class BuildRequest(StrictRequest):
    """The parts of a prompt; at least one must hold more than whitespace."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"type": "string", "pattern": r"\S"}}}
                for name in BUILD_FIELDS
            ]
        }
    )

    subject: Text | None = _part("What the image shows, e.g. `a red fox`.")
    setting: Text | None = _part("Where, e.g. `in a snowy birch forest`.")
    mood: Text | None = _part("The feeling, e.g. `serene`.")
    art_style: Text | None = _part("e.g. `watercolor`, `35mm photo`.")
    lighting: Text | None = _part("e.g. `golden hour backlight`.")
    camera: Text | None = _part("Lens, angle or framing, e.g. `85mm close-up`.")
    extras: Text | None = _part("Anything else to append.")

    @model_validator(mode="after")
    def _at_least_one(self) -> "BuildRequest":
        if not any((getattr(self, name) or "").strip() for name in BUILD_FIELDS):
            raise ValueError(f"give at least one of: {', '.join(BUILD_FIELDS)}")
        return self


class BuildData(BaseModel):
    prompt: str = Field(description="The assembled prompt.")
