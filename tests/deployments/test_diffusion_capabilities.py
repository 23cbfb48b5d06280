"""The diffusion backend's inpainting and LoRA adapters, on the built-in tiny models."""

import io

import numpy as np
import pytest
from PIL import Image

from deployments.protocol import GenerationAbandoned, GenerationParams
from tests.deployments.test_diffusion_backend import assert_same_image, pixels

SIZE = 64


def backend_for(source: str, cache_dir, **config):
    from deployments.diffusion.backend import DiffusionBackend
    from deployments.diffusion.config import DiffusionConfig

    return DiffusionBackend(
        DiffusionConfig(source=source, cache_dir=str(cache_dir), device="cpu", num_threads=1, **config)
    )


@pytest.fixture(scope="module")
def inpainter(model_cache_dir):
    return backend_for("builtin:tiny-inpaint", model_cache_dir)


@pytest.fixture(scope="module")
def with_adapter(model_cache_dir):
    return backend_for("builtin:tiny-sd", model_cache_dir, adapters={"tiny-style": {"source": "builtin:tiny-lora"}})


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def gradient() -> Image.Image:
    x, y = np.meshgrid(np.arange(SIZE), np.arange(SIZE))
    rgb = np.stack([x * 4, y * 4, np.full_like(x, 128)], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb, mode="RGB")


def centre_mask(margin: int = 0) -> np.ndarray:
    """True in a centred square of half the image's side, grown by `margin` pixels each way."""
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    low, high = SIZE // 4 - margin, 3 * SIZE // 4 + margin
    mask[low:high, low:high] = True
    return mask


def inpaint(seed: int = 1, **overrides) -> GenerationParams:
    values = dict(
        prompt="a red door",
        width=SIZE,
        height=SIZE,
        num_inference_steps=2,
        guidance_scale=5.0,
        seed=seed,
        mode="inpaint",
        strength=1.0,
        init_image=png(gradient()),
        mask_image=png(Image.fromarray(centre_mask().astype(np.uint8) * 255, mode="L")),
    )
    values.update(overrides)
    return GenerationParams(**values)


def test_inpainting_keeps_the_pixels_outside_the_mask_and_redraws_those_inside(inpainter):
    result = inpainter.generate([inpaint()])[0]

    out, original = pixels(result), np.asarray(gradient(), dtype=np.int16)
    # Resampling softens the mask's edge by a pixel or two: judge away from it.
    outside, inside = ~centre_mask(margin=3), centre_mask(margin=-3)
    assert np.abs(out[outside] - original[outside]).max() <= 2
    assert np.abs(out[inside] - original[inside]).mean() > 20


def test_inpainting_is_reproducible_and_follows_the_seed(inpainter):
    first, again, other = inpainter.generate([inpaint(seed=7), inpaint(seed=7), inpaint(seed=8)])
    assert_same_image(first, again)
    assert first.image != other.image


def test_inpainting_draws_at_the_requested_size(inpainter):
    result = inpainter.generate([inpaint(width=96)])[0]
    assert Image.open(io.BytesIO(result.image)).size == (96, SIZE)


def test_an_undecodable_mask_fails_that_request_alone(inpainter):
    good, bad = inpainter.generate([inpaint(), inpaint(mask_image=b"not an image")])
    assert not isinstance(good, Exception)
    assert isinstance(bad, Exception) and "mask_image" in str(bad)


def text2img(seed: int = 3, adapters: tuple = ()) -> GenerationParams:
    return GenerationParams(
        prompt="a fox",
        width=SIZE,
        height=SIZE,
        num_inference_steps=2,
        guidance_scale=5.0,
        seed=seed,
        adapters=adapters,
    )


def test_an_adapter_changes_the_image_of_the_same_seed(with_adapter):
    with_adapter.load_adapters(["tiny-style"])
    try:
        base, styled = with_adapter.generate([text2img(), text2img(adapters=(("tiny-style", 1.0),))])
    finally:
        with_adapter.unload_adapters(["tiny-style"])
    assert np.abs(pixels(base) - pixels(styled)).mean() > 1


def test_weight_0_gives_the_base_image(with_adapter):
    base = with_adapter.generate([text2img()])[0]
    with_adapter.load_adapters(["tiny-style"])
    try:
        zero = with_adapter.generate([text2img(adapters=(("tiny-style", 0.0),))])[0]
    finally:
        with_adapter.unload_adapters(["tiny-style"])
    assert_same_image(zero, base)


def test_base_requests_beside_an_adapter_batch_draw_the_base_image(with_adapter):
    base = with_adapter.generate([text2img(seed=4)])[0]
    with_adapter.load_adapters(["tiny-style"])
    try:
        styled_first = with_adapter.generate([text2img(seed=4, adapters=(("tiny-style", 1.0),)), text2img(seed=4)])
    finally:
        with_adapter.unload_adapters(["tiny-style"])
    assert_same_image(styled_first[1], base)
    assert np.abs(pixels(styled_first[0]) - pixels(base)).mean() > 1


def test_an_unloaded_adapter_leaves_the_pipeline(with_adapter):
    assert with_adapter.load_adapters(["tiny-style"]) == ["tiny-style"]
    assert with_adapter.load_adapters(["tiny-style"]) == [], "a second hold loads nothing"
    with_adapter.unload_adapters(["tiny-style"])
    assert "tiny-style" in with_adapter.pipeline.get_list_adapters().get("unet", [])
    with_adapter.unload_adapters(["tiny-style"])
    assert with_adapter.pipeline.get_list_adapters().get("unet", []) == []


@pytest.fixture(scope="module")
def upscaler(model_cache_dir):
    return backend_for("builtin:tiny-upscaler", model_cache_dir, upscaler=True)


def upscale(scale: int, input_size=(40, 24), **overrides) -> GenerationParams:
    values = dict(
        prompt="",
        width=input_size[0] * scale,
        height=input_size[1] * scale,
        num_inference_steps=2,
        guidance_scale=5.0,
        seed=1,
        mode="upscale",
        init_image=png(gradient().resize(input_size)),
        scale=scale,
    )
    values.update(overrides)
    return GenerationParams(**values)


@pytest.mark.parametrize("scale", [2, 4])
def test_an_upscale_is_scale_times_wider_and_taller(upscaler, scale):
    result = upscaler.generate([upscale(scale)])[0]
    assert Image.open(io.BytesIO(result.image)).size == (40 * scale, 24 * scale) == (result.width, result.height)


def test_an_upscale_follows_its_input(upscaler):
    red, blue = upscaler.generate(
        [
            upscale(4, init_image=png(Image.new("RGB", (40, 24), (255, 0, 0)))),
            upscale(4, init_image=png(Image.new("RGB", (40, 24), (0, 0, 255)))),
        ]
    )
    assert red.image != blue.image


def test_each_step_of_each_request_is_reported_with_previews_when_due(model_cache_dir):
    backend = backend_for("builtin:tiny-sd", model_cache_dir)
    heard = []
    batch = [
        GenerationParams(
            prompt="a", width=SIZE, height=SIZE, num_inference_steps=4, guidance_scale=5.0, seed=1, preview_every=2
        ),
        GenerationParams(prompt="b", width=SIZE, height=SIZE, num_inference_steps=4, guidance_scale=5.0, seed=2),
    ]

    results = backend.generate(batch, on_step=lambda *event: heard.append(event))

    assert [(i, step, total) for i, step, total, _ in heard] == [(i, s, 4) for s in (1, 2, 3, 4) for i in (0, 1)]
    previews = [(i, step) for i, step, _, preview in heard if preview is not None]
    assert previews == [(0, 2)], "every 2 steps, never at the last one (the result follows)"
    preview = Image.open(io.BytesIO(heard[2][3]))
    assert preview.size == (SIZE, SIZE) and preview.format == "PNG"
    without = backend.generate(batch)
    assert [r.image for r in results] == [r.image for r in without], "reporting changes no pixel"


def test_a_previewed_call_still_stops_when_its_caller_leaves_and_counts_its_steps(model_cache_dir):
    # One step callback does both: progress for the stream, abandonment for the queue.
    backend = backend_for("builtin:tiny-sd", model_cache_dir)
    heard = []
    params = GenerationParams(
        prompt="a", width=SIZE, height=SIZE, num_inference_steps=6, guidance_scale=5.0, seed=1, preview_every=1
    )

    # The caller leaves once it has heard of the first step.
    (result,) = backend.generate([params], abandoned=lambda i: bool(heard), on_step=lambda *event: heard.append(event))

    assert isinstance(result, GenerationAbandoned)
    assert [step for _, step, _, _ in heard] == [1]
    assert backend.steps_run == 2, "the step in progress when the caller left ran, none after it"
