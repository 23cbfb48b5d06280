"""The response envelope shared by every native endpoint."""

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

DataT = TypeVar("DataT")


class StrictRequest(BaseModel):
    """Base of request bodies: unknown fields are a 400, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


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
