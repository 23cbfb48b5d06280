"""Safety checkers on a replica: the stand-in's rule, diffusers' StableDiffusionSafetyChecker (a
tiny seeded one saved like CompVis's), and the verdict each result carries."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deployments.diffusion.safety import (
    STAND_IN_CHECKER,
    STAND_IN_MARKER,
    DiffusersSafetyChecker,
    StandInSafetyChecker,
    load_safety_checker,
)

# `backend` is that module's fixture (tiny-sd, no checker), shared rather than loaded again.
from tests.deployments.test_diffusion_backend import backend, params  # noqa: F401
from tests.deployments.test_diffusion_capabilities import backend_for


def tiny_checker(target: Path, *, threshold: float) -> Path:
    """A StableDiffusionSafetyChecker with a 1-layer CLIP vision tower, and its feature extractor's
    config in the form CompVis/stable-diffusion-safety-checker ships it. A concept counts when
    the image's cosine similarity to it exceeds its threshold: at -2 every image is flagged, at 2
    none is."""
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig

    torch.manual_seed(0)
    small = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = CLIPConfig(
        text_config={**small, "vocab_size": 64},
        vision_config={**small, "image_size": 32, "patch_size": 8},
        projection_dim=8,
    )
    checker = StableDiffusionSafetyChecker(config)
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(threshold)
        checker.special_care_embeds_weights.fill_(threshold)
    checker.save_pretrained(target)
    extractor = {
        "feature_extractor_type": "CLIPFeatureExtractor",
        "do_resize": True,
        "size": 32,
        "resample": 3,
        "do_center_crop": True,
        "crop_size": 32,
        "do_normalize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
    }
    (target / "preprocessor_config.json").write_text(json.dumps(extractor))
    return target


def images(count: int = 2) -> list[np.ndarray]:
    return [np.random.default_rng(i).random((64, 64, 3), dtype=np.float32) for i in range(count)]


def test_the_stand_in_flags_exactly_the_prompts_holding_the_marker():
    batch = [params(f"a fox {STAND_IN_MARKER}"), params("a fox"), params(f"{STAND_IN_MARKER}")]
    assert StandInSafetyChecker().check(images(3), batch) == [True, False, True]


@pytest.mark.parametrize(("threshold", "verdicts"), [(-2.0, [True, True]), (2.0, [False, False])])
def test_diffusers_checker_reports_its_verdicts_and_leaves_the_images_as_drawn(tmp_path, threshold, verdicts):
    checker = load_safety_checker(str(tiny_checker(tmp_path, threshold=threshold)), device="cpu", dtype=torch.float32)
    drawn = images()
    before = [image.copy() for image in drawn]

    assert isinstance(checker, DiffusersSafetyChecker)
    assert checker.check(drawn, [params(), params()]) == verdicts
    # diffusers' checker blacks out what it flags; the policy, not the checker, decides what is shown.
    assert all(np.array_equal(image, original) for image, original in zip(drawn, before, strict=False))


def test_the_stand_in_is_loaded_by_name_and_other_builtins_are_refused():
    assert isinstance(load_safety_checker(STAND_IN_CHECKER, device="cpu", dtype=torch.float32), StandInSafetyChecker)
    with pytest.raises(ValueError, match="stand-in-safety"):
        load_safety_checker("builtin:strict-safety", device="cpu", dtype=torch.float32)


def test_each_result_of_a_batch_carries_its_own_images_verdict(model_cache_dir):
    checked = backend_for("builtin:tiny-sd", model_cache_dir, safety_checker=STAND_IN_CHECKER)
    results = checked.generate([params(f"a fox {STAND_IN_MARKER}"), params("a fox", seed=2)])

    assert [result.nsfw for result in results] == [True, False]
    assert all(result.batch_size == 2 for result in results)


def test_a_replica_runs_diffusers_checker_on_what_its_pipeline_drew(model_cache_dir, tmp_path):
    checker = tiny_checker(tmp_path, threshold=-2.0)
    checked = backend_for("builtin:tiny-sd", model_cache_dir, safety_checker=str(checker))
    assert [result.nsfw for result in checked.generate([params(), params(seed=2)])] == [True, True]


def test_without_a_checker_no_verdict_is_given(backend):  # noqa: F811 - the fixture imported above
    (result,) = backend.generate([params(f"a fox {STAND_IN_MARKER}")])
    assert result.nsfw is None
