"""Prompt variants behind /api/v1/generate/product and /logo: a template around the user's
prompt, a negative prompt and a default shape, applied before the request is validated
against the model."""

from dataclasses import dataclass

from serve_app.config import ModelConfig
from serve_app.fitting import AspectRatio
from serve_app.schemas.generate import GenerateRequest


@dataclass(frozen=True)
class PromptVariant:
    name: str
    template: str
    """Holds `{prompt}`."""
    negative_prompt: str
    aspect_ratio: AspectRatio
    """Used when the request gives no size or ratio of its own."""

    def apply(self, request: GenerateRequest, model: ModelConfig) -> GenerateRequest:
        """The request with the template around its prompt; the user's negative prompt is
        added to the variant's, for models that take one."""
        update: dict = {"prompt": self.template.format(prompt=request.prompt)}
        if model.supports_negative_prompt:
            update["negative_prompt"] = ", ".join(filter(None, (request.negative_prompt, self.negative_prompt)))
        if request.aspect_ratio is None and request.width is None and request.height is None:
            update["aspect_ratio"] = self.aspect_ratio
        return request.model_copy(update=update)


PRODUCT = PromptVariant(
    name="product",
    template="professional studio product photo of {prompt}, centered on a seamless white background, "
    "softbox lighting, soft shadow, sharp focus, high detail, commercial photography",
    negative_prompt="blurry, low quality, distorted, watermark, text, logo, cluttered background, hands, people",
    aspect_ratio="4:3",
)

LOGO = PromptVariant(
    name="logo",
    template="flat vector logo mark of {prompt}, simple bold geometric shapes, two or three solid colors, "
    "centered on a plain white background, minimal, clean lines, scalable icon",
    negative_prompt="photo, photorealistic, 3d, gradient, shadow, texture, noise, blurry, watermark, "
    "complex background, small details",
    aspect_ratio="1:1",
)

VARIANTS = {variant.name: variant for variant in (PRODUCT, LOGO)}
