"""The playground's forms read into the API's own request models (GenerateRequest,
UpscaleRequest): the same validation, the same errors naming the same fields."""

import base64
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData, UploadFile

from serve_app.errors import InvalidRequest
from serve_app.schemas.generate import GenerateRequest
from serve_app.schemas.upscale import UpscaleRequest
from serve_app.schemas.validation import invalid_request

# Form fields passed to GenerateRequest as they are; empty ones mean "the model's default".
_GENERATE_FIELDS = (
    "prompt",
    "negative_prompt",
    "model",
    "aspect_ratio",
    "width",
    "height",
    "count",
    "seed",
    "num_inference_steps",
    "guidance_scale",
    "output_format",
    "strength",
)
_UPSCALE_FIELDS = ("prompt", "model", "scale", "num_inference_steps", "seed", "output_format")
# The API's JSON bodies are strictly typed (a string is never a number there); a form sends text.
_NUMBER_FIELDS = frozenset(
    {"width", "height", "count", "seed", "num_inference_steps", "guidance_scale", "strength", "scale"}
)
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
_UPLOAD_TYPES = ("image/png", "image/jpeg", "image/webp")
# A LoRA's weight comes in the field named after it: `lora_weight.SLUG`.
LORA_WEIGHT = "lora_weight."

Request = TypeVar("Request", bound=BaseModel)


async def generate_request(form: FormData) -> GenerateRequest:
    """The generate form as a GenerateRequest: an uploaded image makes it img2img, an image with
    a mask inpainting; ticked adapters become `loras`, a hires scale `hires`."""
    values: dict[str, Any] = _filled(form, _GENERATE_FIELDS)
    values["enhance"] = form.get("enhance") == "on"
    image, mask = await _upload(form, "image"), await _upload(form, "mask")
    if mask and not image:
        raise InvalidRequest(field="image", message="inpainting needs the image the mask belongs to; upload both")
    if image:
        values.update(mode="inpaint" if mask else "img2img", image=image)
    if mask:
        values["mask"] = mask
    loras = [
        {"slug": slug, "weight": _number(f"loras.{slug}", form.get(LORA_WEIGHT + slug))}
        for slug in form.getlist("lora")
        if isinstance(slug, str)  # ticked checkboxes; a file sent under `lora` is no adapter
    ]
    if loras:
        values["loras"] = loras
    if _text(form.get("hires_scale")):
        values["hires"] = {
            "scale": _number("hires.scale", form.get("hires_scale")),
            "model": _text(form.get("hires_model")),
            "num_inference_steps": _number("hires.num_inference_steps", form.get("hires_steps")),
        }
    return _validated(GenerateRequest, values)


async def upscale_request(form: FormData) -> UpscaleRequest:
    """The upscale form as an UpscaleRequest; the image is an upload."""
    values: dict[str, Any] = _filled(form, _UPSCALE_FIELDS)
    image = await _upload(form, "image")
    if not image:
        raise InvalidRequest(field="image", message="choose a PNG, JPEG or WebP image to enlarge")
    return _validated(UpscaleRequest, {**values, "image": image})


def _validated(model: type[Request], values: dict[str, Any]) -> Request:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise invalid_request(exc, model) from None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _filled(form: FormData, names: tuple[str, ...]) -> dict[str, Any]:
    values = {name: _text(form.get(name)) for name in names}
    return {
        name: _number(name, value) if name in _NUMBER_FIELDS else value
        for name, value in values.items()
        if value is not None
    }


def _number(field: str, value: Any) -> int | float | None:
    """A form value as the request models take it: an int when written as one; None when empty."""
    text = _text(value)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        raise InvalidRequest(field=field, message=f"enter a number, not {text!r}") from None
    return int(number) if number.is_integer() and "." not in text else number


async def _upload(form: FormData, field: str) -> str | None:
    """An uploaded image as a data URL, as the API takes it; None when no file was chosen."""
    upload = form.get(field)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidRequest(field=field, message="the uploaded image is over 10 MiB")
    if upload.content_type not in _UPLOAD_TYPES:
        raise InvalidRequest(field=field, message="upload a PNG, JPEG or WebP image")
    return f"data:{upload.content_type};base64,{base64.b64encode(data).decode()}"
