"""The built-in tiny Stable Diffusion: deterministic build, loaded like any Hugging Face model."""

import hashlib
from pathlib import Path

import pytest

from deployments.builtin_models import BUILD_VERSIONS, builtin_model_path, resolve_source


def digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_building_twice_gives_identical_files(tmp_path, model_cache_dir):
    again = builtin_model_path("tiny-sd", tmp_path)
    first = digests(builtin_model_path("tiny-sd", model_cache_dir))
    assert digests(again) == first
    assert {
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
        "model_index.json",
    } <= set(first)


def test_a_built_model_is_reused_not_rebuilt(model_cache_dir):
    path = builtin_model_path("tiny-sd", model_cache_dir)
    weights = path / "unet" / "diffusion_pytorch_model.safetensors"
    before = weights.stat().st_mtime_ns
    assert builtin_model_path("tiny-sd", model_cache_dir) == path
    assert weights.stat().st_mtime_ns == before


def test_a_build_of_another_version_is_replaced_not_loaded(tmp_path, model_cache_dir):
    for stale in (tmp_path / "tiny-sd", tmp_path / "tiny-sd-v1"):
        (stale / "vae").mkdir(parents=True)
        (stale / "model_index.json").write_text("{}")

    path = builtin_model_path("tiny-sd", tmp_path)

    assert path.name == f"tiny-sd-v{BUILD_VERSIONS['tiny-sd']}"
    assert digests(path) == digests(builtin_model_path("tiny-sd", model_cache_dir))
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_tiny_sd_has_stable_diffusions_shape(model_cache_dir):
    """An 8x VAE over 4 latent channels, as every SD VAE: 512x512 images denoise 64x64 latents."""
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(resolve_source("builtin:tiny-sd", model_cache_dir))
    assert pipeline.vae_scale_factor == 8
    assert len(pipeline.vae.config.block_out_channels) == 4
    assert pipeline.unet.config.in_channels == pipeline.vae.config.latent_channels == 4


def test_it_loads_through_from_pretrained_with_every_component(model_cache_dir):
    from diffusers import AutoPipelineForText2Image, StableDiffusionPipeline

    pipeline = AutoPipelineForText2Image.from_pretrained(resolve_source("builtin:tiny-sd", model_cache_dir))
    assert isinstance(pipeline, StableDiffusionPipeline)
    assert type(pipeline.tokenizer).__name__ == "CLIPTokenizer"
    assert pipeline.tokenizer("héllo").input_ids[1:-1], "byte-level tokens for any UTF-8 text"


@pytest.mark.parametrize("source", ["stabilityai/sd-turbo", "org/model"])
def test_repo_ids_pass_through_unchanged(source):
    assert resolve_source(source) == source


def test_tiny_lm_builds_identically_twice_and_loads_with_a_chat_template(tmp_path, model_cache_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert digests(builtin_model_path("tiny-lm", tmp_path)) == digests(builtin_model_path("tiny-lm", model_cache_dir))
    path = resolve_source("builtin:tiny-lm", model_cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert tokenizer.chat_template and type(model).__name__ == "LlamaForCausalLM"
    ids = tokenizer("héllo", add_special_tokens=False).input_ids
    assert tokenizer.decode(ids) == "héllo", "byte-level tokens round-trip any UTF-8 text"
