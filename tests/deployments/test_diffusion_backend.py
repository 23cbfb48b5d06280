"""The diffusion backend: batching that keeps every request's own seed and failures isolated."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from deployments.protocol import GenerationAbandoned, GenerationError, GenerationParams


@pytest.fixture(scope="module")
def backend(model_cache_dir):
    from deployments.diffusion.backend import DiffusionBackend
    from deployments.diffusion.config import DiffusionConfig

    return DiffusionBackend(
        DiffusionConfig(source="builtin:tiny-sd", cache_dir=str(model_cache_dir), device="cpu", num_threads=1)
    )


def params(prompt: str = "a fox", seed: int = 1, size: int = 64, **overrides) -> GenerationParams:
    values = dict(prompt=prompt, width=size, height=size, num_inference_steps=2, guidance_scale=5.0, seed=seed)
    values.update(overrides)
    return GenerationParams(**values)


def pixels(result) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(result.image)), dtype=np.int16)


def assert_same_image(first, second) -> None:
    """Equal up to one level of rounding: CPU kernels block their sums differently for
    different batch sizes, so a value sitting on a rounding edge may land one level apart."""
    difference = np.abs(pixels(first) - pixels(second))
    assert difference.max() <= 1 and difference.mean() < 0.01, (difference.max(), difference.mean())


def test_same_seed_gives_the_same_image_in_every_batch_position(backend):
    alone = backend.generate([params("a fox", 42)])[0]
    for size in (2, 3, 4):
        for position in range(size):
            batch = [params(f"other {i}", i) for i in range(size)]
            batch[position] = params("a fox", 42)
            assert_same_image(backend.generate(batch)[position], alone)


def test_a_batch_is_bitwise_reproducible(backend):
    batch = [params(f"prompt {i}", i) for i in range(3)]
    assert [r.image for r in backend.generate(batch)] == [r.image for r in backend.generate(batch)]


def test_different_seeds_give_different_images(backend):
    first, second = backend.generate([params(seed=1), params(seed=2)])
    assert first.image != second.image


def test_mixed_sizes_in_one_batch_each_get_their_own_size(backend):
    results = backend.generate([params(size=64), params(size=96), params(size=64, seed=3)])
    assert [Image.open(io.BytesIO(r.image)).size for r in results] == [(64, 64), (96, 96), (64, 64)]


@pytest.mark.parametrize(("output_format", "pil_format"), [("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")])
def test_output_formats(backend, output_format, pil_format):
    result = backend.generate([params(output_format=output_format)])[0]
    image = Image.open(io.BytesIO(result.image))
    assert image.format == pil_format and not image.info.get("exif")


def test_a_failing_request_fails_alone(backend):
    # A width the VAE cannot tile (not a multiple of its latent factor) makes the pipeline raise.
    results = backend.generate([params(seed=5), params(size=66, seed=6), params(seed=7)])
    assert isinstance(results[1], Exception)
    assert not isinstance(results[0], Exception) and not isinstance(results[2], Exception)


def png_bytes(size: tuple[int, int] = (40, 24), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def img2img(seed: int = 1, init_image: bytes | None = None, **overrides) -> GenerationParams:
    return params(seed=seed, mode="img2img", init_image=png_bytes() if init_image is None else init_image, **overrides)


def test_img2img_shares_the_loaded_weights(backend):
    assert backend.img2img.unet is backend.pipeline.unet and backend.img2img.vae is backend.pipeline.vae


def test_img2img_resizes_the_input_to_the_requested_size(backend):
    result = backend.generate([img2img(size=64, width=96)])[0]
    assert Image.open(io.BytesIO(result.image)).size == (96, 64)


def test_img2img_depends_on_the_input_image(backend):
    red, blue = backend.generate(
        [img2img(strength=0.5), img2img(init_image=png_bytes(color=(0, 0, 255)), strength=0.5)]
    )
    assert red.image != blue.image


def test_img2img_same_seed_gives_the_same_image_in_every_batch_position(backend):
    alone = backend.generate([img2img(seed=42)])[0]
    for position in range(3):
        batch = [img2img(seed=i) for i in range(3)]
        batch[position] = img2img(seed=42)
        assert_same_image(backend.generate(batch)[position], alone)


def test_an_undecodable_init_image_fails_only_its_own_request(backend):
    results = backend.generate([img2img(seed=1), img2img(seed=2, init_image=b"not an image"), params(seed=3)])
    assert isinstance(results[1], GenerationError) and "init_image" in str(results[1])
    assert not isinstance(results[0], Exception) and not isinstance(results[2], Exception)


def test_text2img_and_img2img_in_one_batch_each_run_their_own_mode(backend):
    mixed = backend.generate([params(seed=9), img2img(seed=9)])
    assert_same_image(mixed[0], backend.generate([params(seed=9)])[0])
    assert_same_image(mixed[1], backend.generate([img2img(seed=9)])[0])
    assert mixed[0].image != mixed[1].image


class FakeOutOfMemoryPipeline:
    """The real pipeline on a device that only has memory for one image at a time."""

    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.calls: list[int] = []

    def __call__(self, **kwargs):
        self.calls.append(len(kwargs["prompt"]))
        if len(kwargs["prompt"]) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.pipeline(**kwargs)


class FakeNonFinitePipeline:
    """The real pipeline, except that the image for `poisoned_prompt` comes out as NaN."""

    def __init__(self, pipeline, poisoned_prompt: str):
        self.pipeline = pipeline
        self.poisoned_prompt = poisoned_prompt

    def __call__(self, **kwargs):
        output = self.pipeline(**kwargs)
        for i, prompt in enumerate(kwargs["prompt"]):
            if prompt == self.poisoned_prompt:
                output.images[i][:] = np.nan
        return output


def test_an_out_of_memory_batch_is_retried_one_by_one_and_every_request_succeeds(backend, monkeypatch):
    expected = [backend.generate([params(seed=s)])[0] for s in (1, 2, 3)]
    fake = FakeOutOfMemoryPipeline(backend.pipeline)
    monkeypatch.setattr(backend, "pipeline", fake)
    results = backend.generate([params(seed=s) for s in (1, 2, 3)])
    assert fake.calls == [3, 1, 1, 1]
    assert [r.image for r in results] == [r.image for r in expected]


def test_non_finite_pixels_fail_only_that_request(backend, monkeypatch):
    monkeypatch.setattr(backend, "pipeline", FakeNonFinitePipeline(backend.pipeline, "poisoned"))
    results = backend.generate([params("a fox", 1), params("poisoned", 2), params("a cat", 3)])
    assert isinstance(results[1], GenerationError) and "non-finite" in str(results[1])
    assert not isinstance(results[0], Exception) and not isinstance(results[2], Exception)


def test_a_call_whose_every_caller_left_stops_after_the_step_in_progress(backend):
    started = backend.steps_run
    # Both callers leave while the first step runs.
    results = backend.generate(
        [params(seed=1, num_inference_steps=10), params(seed=2, num_inference_steps=10)],
        abandoned=lambda i: backend.steps_run > started,
    )
    assert all(isinstance(result, GenerationAbandoned) for result in results)
    assert backend.steps_run - started == 1


def test_a_call_with_one_caller_left_runs_to_the_end(backend):
    started = backend.steps_run
    results = backend.generate(
        [params(seed=1, num_inference_steps=3), params(seed=2, num_inference_steps=3)], abandoned=lambda i: i == 0
    )
    assert [result.seed for result in results] == [1, 2]
    assert backend.steps_run - started == 3


def test_inputs_abandoned_before_their_call_never_run(backend):
    started = backend.steps_run
    results = backend.generate([params(seed=1), params(seed=2, size=96)], abandoned=lambda i: i == 1)
    assert results[0].seed == 1 and isinstance(results[1], GenerationAbandoned)
    assert backend.steps_run - started == 2
