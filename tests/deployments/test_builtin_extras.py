"""The built-in tiny inpainting model and LoRA adapter: derived from tiny-sd, seeded, loadable."""

import json

from deployments.builtin_models import builtin_model_path
from tests.deployments.test_builtin_models import digests


def weights(root) -> dict[str, str]:
    """Digests of the weight files: configs also record the path they were loaded from."""
    return {name: digest for name, digest in digests(root).items() if name.endswith(".safetensors")}


def test_the_inpainting_model_is_tiny_sd_with_a_9_channel_unet(model_cache_dir):
    from diffusers import AutoPipelineForInpainting, StableDiffusionInpaintPipeline

    path = builtin_model_path("tiny-inpaint", model_cache_dir)
    pipeline = AutoPipelineForInpainting.from_pretrained(path)

    assert isinstance(pipeline, StableDiffusionInpaintPipeline)
    assert pipeline.unet.config.in_channels == 9 and pipeline.unet.config.out_channels == 4
    tiny_sd = builtin_model_path("tiny-sd", model_cache_dir)
    base_unet = json.loads((tiny_sd / "unet" / "config.json").read_text())
    assert list(pipeline.unet.config.block_out_channels) == base_unet["block_out_channels"]
    assert pipeline.unet.config.norm_num_groups == base_unet["norm_num_groups"]
    assert weights(path / "vae") == weights(tiny_sd / "vae")
    assert weights(path / "text_encoder") == weights(tiny_sd / "text_encoder")


def test_building_the_extras_twice_gives_identical_files(tmp_path, model_cache_dir):
    # A cache that already holds tiny-sd, so only the extras are built again.
    tiny_sd = builtin_model_path("tiny-sd", model_cache_dir)
    (tmp_path / tiny_sd.name).symlink_to(tiny_sd)
    for name in ("tiny-inpaint", "tiny-lora"):
        assert weights(builtin_model_path(name, tmp_path)) == weights(builtin_model_path(name, model_cache_dir)), name


def test_the_adapter_loads_onto_tiny_sd_through_diffusers(model_cache_dir):
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(builtin_model_path("tiny-sd", model_cache_dir))
    pipeline.load_lora_weights(builtin_model_path("tiny-lora", model_cache_dir), adapter_name="tiny-style")

    assert pipeline.get_list_adapters() == {"unet": ["tiny-style"]}


def test_the_upscaler_enlarges_4x_like_the_sd_x4_upscaler(model_cache_dir):
    from diffusers import StableDiffusionUpscalePipeline

    pipeline = StableDiffusionUpscalePipeline.from_pretrained(builtin_model_path("tiny-upscaler", model_cache_dir))

    assert pipeline.vae_scale_factor == 4 and pipeline.unet.config.in_channels == 7
    assert weights(builtin_model_path("tiny-upscaler", model_cache_dir) / "text_encoder") == weights(
        builtin_model_path("tiny-sd", model_cache_dir) / "text_encoder"
    )
