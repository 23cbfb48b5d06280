"""The diffusion backend: batching that keeps every request's own seed and failures isolated."""

import io

import pytest
from PIL import Image

from deployments.protocol import GenerationParams


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


def test_same_seed_gives_identical_bytes_in_every_batch_position(backend):
    alone = backend.generate([params("a fox", 42)])[0].image
    for position in range(4):
        batch = [params(f"other {i}", i) for i in range(4)]
        batch[position] = params("a fox", 42)
        assert backend.generate(batch)[position].image == alone


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
