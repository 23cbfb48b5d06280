"""The response envelope shared by every native endpoint, the base of request bodies and the
text types every free-text input goes through."""

import unicodedata
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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


# Free text that is stored or shown: no control characters but line breaks and tabs.
Text = Annotated[str, AfterValidator(_printable)]
# A prompt: Text with something other than whitespace in it.
PromptText = Annotated[str, AfterValidator(_printable), AfterValidator(_not_blank)]


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
