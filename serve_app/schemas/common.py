"""The response envelope shared by every native endpoint, the base of request bodies and the
text types every free-text input goes through."""

import unicodedata
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, GetJsonSchemaHandler

DataT = TypeVar("DataT")
# Offsets beyond this are pages no one has (and beyond a 64-bit SQL integer they would be errors).
MAX_OFFSET = 1_000_000_000
# Line breaks and tabs are whitespace in a multi-line prompt; every other control character is
# refused: PostgreSQL cannot store NUL, and the rest are invisible in a stored prompt.
_ALLOWED_CONTROLS = frozenset("\t\n\r")


def _printable(value: str) -> str:
    for position, char in enumerate(value):
        # Lone surrogates never get here: pydantic refuses them as not a valid string.
        if unicodedata.category(char) == "Cc" and char not in _ALLOWED_CONTROLS:
            raise ValueError(
                f"holds U+{ord(char):04X}, a control character, at position {position}; "
                "remove it (line breaks and tabs are allowed)"
            )
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty or only whitespace; describe the image")
    return value


def _integral(value: Any) -> Any:
    # JSON Schema counts 7.0 as an integer, so generated clients may send it; `true` stays refused.
    return int(value) if isinstance(value, float) and value.is_integer() else value


class JsonPattern:
    """Adds a `pattern` to a type's JSON Schema (also inside `X | None`), for a rule that a
    validator enforces with a better message than a regex failure."""

    def __init__(self, pattern: str):
        self.pattern = pattern

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return {**handler(core_schema), "pattern": self.pattern}


# ECMA-262 classes (what JSON Schema patterns are): every control character but tab, LF and CR.
_CONTROLS = r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F"
# Free text that is stored or shown: no control characters but line breaks and tabs.
Text = Annotated[str, AfterValidator(_printable), JsonPattern(f"^[^{_CONTROLS}]*$")]
# A prompt: Text with something other than whitespace in it.
PromptText = Annotated[
    str,
    AfterValidator(_printable),
    AfterValidator(_not_blank),
    JsonPattern(rf"^[^{_CONTROLS}]*[^\s{_CONTROLS}][^{_CONTROLS}]*$"),
]
# An integer in a strict body: a JSON integer, or a float without a fraction (7.0), never a bool.
Integer = Annotated[int, BeforeValidator(_integral)]


class StrictRequest(BaseModel):
    """Base of JSON request bodies: unknown fields are a 400, not silently dropped, and types are
    strict: `0` is not a bool, `false` is not an integer and `"5"` is not a number."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Envelope(BaseModel, Generic[DataT]):
    success: Literal[True] = True
    data: DataT
    request_id: str


class ErrorBody(BaseModel):
    code: str = Field(description="Machine-readable error code, e.g. invalid_request.")
    message: str = Field(description="What went wrong and how to fix it.")
    field: str | None = Field(default=None, description="The request field at fault, if any.")
    retry_after: int | None = Field(default=None, description="Seconds to wait before retrying.")


class ErrorEnvelope(BaseModel):
    success: Literal[False] = False
    error: ErrorBody
    request_id: str
