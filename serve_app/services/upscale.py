"""Upscalers: picking one, and the second pass of a generate request's `hires` option."""

from dataclasses import dataclass

from deployments.protocol import GenerationParams, GenerationResult
from serve_app.config import AppConfig, ModelConfig
from serve_app.errors import InvalidRequest
from serve_app.fitting import fit, fits
from serve_app.schemas.generate import GenerateRequest


def resolve_upscaler(config: AppConfig, slug: str | None, *, field: str = "model") -> ModelConfig:
    """The named catalog model, which must upscale, else the first catalog model that does;
    InvalidRequest on `field` otherwise."""
    upscalers = [m.slug for m in config.models if "upscale" in m.modes]
    if slug is None and upscalers:
        slug = upscalers[0]
    model = config.model(slug) if slug else None
    if model is None or "upscale" not in model.modes:
        raise InvalidRequest(
            field=field,
            message=f"{'model ' + repr(slug) if slug else 'this server'} does not upscale; upscalers: "
            f"{', '.join(upscalers) or 'none'}",
        )
    return model


@dataclass(frozen=True)
class Hires:
    """A second pass that enlarges every drawn image on an upscaler (`steps` unset: its default)."""

    model: ModelConfig
    scale: int
    steps: int | None

    def params_for(self, drawn: GenerationParams, result: GenerationResult) -> GenerationParams:
        return fit(
            self.model,
            prompt=drawn.prompt,
            width=result.width * self.scale,
            height=result.height * self.scale,
            steps=self.steps,
            seed=drawn.seed,
            output_format=drawn.output_format,
            mode="upscale",
            init_image=result.image,
            scale=self.scale,
        )

    def cost(self, drawn: GenerationParams) -> int:
        return self.model.credit_cost(width=drawn.width * self.scale, height=drawn.height * self.scale)


def hires_plan(config: AppConfig, request: GenerateRequest, params: GenerationParams) -> Hires | None:
    """The upscaling pass `request.hires` asks for; InvalidRequest on `hires.*` when the
    enlarged image falls outside the upscaler's sizes."""
    if request.hires is None:
        return None
    upscaler = resolve_upscaler(config, request.hires.model, field="hires.model")
    scale = request.hires.scale
    if not fits(upscaler, params.width * scale, params.height * scale):
        raise InvalidRequest(
            field="hires.scale",
            message=f"{params.width}x{params.height} x{scale} is {params.width * scale}x{params.height * scale}; "
            f"upscaler {upscaler.slug!r} makes {upscaler.min_size}–{upscaler.max_size} px sides",
        )
    return Hires(model=upscaler, scale=scale, steps=request.hires.num_inference_steps)
