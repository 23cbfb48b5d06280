"""Built-in tiny models for the capabilities beyond text2img: inpainting, upscaling and LoRA adapters.

Each derives from the built-in `tiny-sd` (loaded from its cache, built first if needed), so it
follows whatever architecture `tiny-sd` has: the inpainting model is tiny-sd with a 9-channel
UNet, the upscaler tiny-sd's text encoder with a 7-channel UNet and a 4x VAE, the adapter a LoRA
for tiny-sd's UNet. Like tiny-sd, their weights are random and seeded.
"""

from pathlib import Path

TINY_INPAINT_SEED = 10
TINY_LORA_SEED = 20
TINY_UPSCALER_SEED = 30
TINY_LORA_RANK = 4
# Channels an SD inpainting UNet reads: 4 noisy latents, 1 mask, 4 latents of the masked image.
_INPAINT_IN_CHANNELS = 9


def _tiny_sd(target: Path):
    """tiny-sd, from the cache directory `target` is being built in (builds land in a scratch
    directory next to their final place)."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    from deployments.builtin_models import builtin_model_path

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    return StableDiffusionPipeline.from_pretrained(builtin_model_path("tiny-sd", target.parent))


def build_tiny_inpaint(target: Path) -> None:
    """tiny-sd's text encoder, tokenizer, VAE and scheduler with a seeded 9-channel UNet of the
    same shape, saved as a StableDiffusionInpaintPipeline (like stable-diffusion-2-inpainting)."""
    import torch
    from diffusers import StableDiffusionInpaintPipeline, UNet2DConditionModel

    base = _tiny_sd(target)
    torch.manual_seed(TINY_INPAINT_SEED)
    unet = UNet2DConditionModel.from_config({**base.unet.config, "in_channels": _INPAINT_IN_CHANNELS})
    pipeline = StableDiffusionInpaintPipeline(
        vae=base.vae,
        text_encoder=base.text_encoder,
        tokenizer=base.tokenizer,
        unet=unet,
        scheduler=base.scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(target, safe_serialization=True)  # type: ignore[attr-defined]  # mypy misses DiffusionPipeline.save_pretrained through diffusers' mixins


def build_tiny_upscaler(target: Path) -> None:
    """A StableDiffusionUpscalePipeline shaped like stable-diffusion-x4-upscaler: a UNet reading 4
    latent and 3 low-resolution image channels with a noise-level class embedding, and a 3-level
    VAE whose decoder enlarges 4x, with tiny-sd's text encoder and tokenizer."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
        UNet2DConditionModel,
    )

    base = _tiny_sd(target)
    torch.manual_seed(TINY_UPSCALER_SEED)
    unet = UNet2DConditionModel.from_config({**base.unet.config, "in_channels": 7, "num_class_embeds": 1000})
    torch.manual_seed(TINY_UPSCALER_SEED + 1)
    vae = AutoencoderKL(
        block_out_channels=(32, 32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        latent_channels=4,
        # The x4 upscaler's latent scale; the pipeline warns about any other.
        scaling_factor=0.08333,
    )
    pipeline = StableDiffusionUpscalePipeline(
        vae=vae,
        text_encoder=base.text_encoder,
        tokenizer=base.tokenizer,
        unet=unet,
        low_res_scheduler=DDPMScheduler(beta_start=0.0001, beta_end=0.02, beta_schedule="scaled_linear"),
        scheduler=DDIMScheduler.from_config(base.scheduler.config),
        max_noise_level=350,
    )
    pipeline.save_pretrained(target, safe_serialization=True)  # type: ignore[attr-defined]  # mypy misses DiffusionPipeline.save_pretrained through diffusers' mixins


def build_tiny_lora(target: Path) -> None:
    """A seeded rank-4 LoRA on tiny-sd's attention projections, saved in diffusers' LoRA format
    (`pytorch_lora_weights.safetensors`), the format Hub adapters for SD come in."""
    import torch
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig, get_peft_model_state_dict

    unet = _tiny_sd(target).unet
    torch.manual_seed(TINY_LORA_SEED)
    # Random A and B (peft's default zeroes B, which would make an adapter that changes nothing).
    unet.add_adapter(
        LoraConfig(
            r=TINY_LORA_RANK,
            lora_alpha=TINY_LORA_RANK,
            init_lora_weights=False,
            target_modules=["to_q", "to_k", "to_v", "to_out.0"],
        )
    )
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionPipeline.save_lora_weights(target, unet_lora_layers=layers, safe_serialization=True)
