"""Safety policies applied to the checkers' verdicts: which images are flagged, which withheld."""

import io

import pytest
from PIL import Image

from deployments.protocol import GenerationResult
from serve_app.services.safety import Verdict, screen
from tests.factories import STAND_IN_SAFETY, make_config, tiny_model_entry, tiny_safety_entry

CONFIG = make_config(
    models=[tiny_model_entry(), tiny_safety_entry("flagger", "flag"), tiny_safety_entry("blocker", "block")]
)
NONE, FLAG, BLOCK = (CONFIG.model(slug) for slug in ("tiny-sd", "flagger", "blocker"))


def result(nsfw: bool | None, *, size: tuple[int, int] = (96, 64)) -> GenerationResult:
    return GenerationResult(
        image=b"drawn",
        content_type="image/webp",
        width=size[0],
        height=size[1],
        seed=1,
        inference_seconds=0.1,
        nsfw=nsfw,
    )


@pytest.mark.parametrize(
    ("model", "nsfw", "verdict"),
    [
        (NONE, None, Verdict()),
        (FLAG, False, Verdict(nsfw=False)),
        (FLAG, True, Verdict(nsfw=True)),
        (BLOCK, False, Verdict(nsfw=False)),
        (BLOCK, True, Verdict(nsfw=True, blocked=True)),
    ],
)
def test_only_a_block_policy_withholds_and_only_what_it_flags(model, nsfw, verdict):
    assert Verdict.of(model, result(nsfw)) == verdict


def test_a_withheld_image_becomes_a_png_placeholder_of_its_size():
    screened = screen(result(True), Verdict(nsfw=True, blocked=True))

    assert screened.content_type == "image/png" and screened.seed == 1
    placeholder = Image.open(io.BytesIO(screened.image))
    assert (placeholder.format, placeholder.size) == ("PNG", (96, 64))


def test_an_image_not_withheld_is_published_as_drawn():
    assert screen(result(True), Verdict(nsfw=True)).image == b"drawn"


@pytest.mark.parametrize(
    ("drawn", "enlarged", "both"),
    [
        (Verdict(), Verdict(), Verdict()),
        (Verdict(), Verdict(nsfw=False), Verdict(nsfw=False)),
        (Verdict(nsfw=True), Verdict(), Verdict(nsfw=True)),
        (Verdict(nsfw=False), Verdict(nsfw=True, blocked=True), Verdict(nsfw=True, blocked=True)),
    ],
)
def test_a_hires_image_is_flagged_or_blocked_when_either_model_says_so(drawn, enlarged, both):
    assert drawn | enlarged == both


def test_the_stand_in_is_what_the_test_models_use():
    assert FLAG.safety.checker == STAND_IN_SAFETY
    assert FLAG.to_diffusion_config(cache_dir=None).safety_checker == STAND_IN_SAFETY
