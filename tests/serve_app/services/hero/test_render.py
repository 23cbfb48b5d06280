"""Text on hero images: overlay and split change the text region; presets are designed cards."""

import io

import numpy as np
import pytest
from PIL import Image

from serve_app.services.hero.render import MIN_WIDTH, apply_text_treatment, fit_text, render_preset

TITLE = "Baking sourdough at home: a slow-fermented loaf with a crackling crust"


def png(width: int, height: int, colour: tuple[int, int, int] = (120, 160, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def test_none_returns_the_generated_image_unchanged() -> None:
    source = png(80, 64)
    assert apply_text_treatment(source, treatment="none", title=TITLE, site_name="Crumb") == source


def test_overlay_sets_light_text_on_a_dark_band_at_the_bottom() -> None:
    out = pixels(apply_text_treatment(png(640, 336), treatment="overlay", title=TITLE, site_name="Crumb"))
    top, bottom = out[: out.shape[0] // 3], out[-out.shape[0] // 4 :]
    assert (top == (120, 160, 200)).all(), "the upper part of the picture is untouched"
    assert bottom.mean() < 100, "the band darkens the text region"
    assert (bottom.min(axis=2) > 200).sum() > 500, "white title pixels are drawn in the band"


def test_split_puts_a_text_panel_beside_the_image() -> None:
    out = pixels(apply_text_treatment(png(640, 336), treatment="split", title=TITLE, site_name="Crumb"))
    left, right = out[:, : out.shape[1] // 2], out[:, -out.shape[1] // 3 :]
    assert (left == (120, 160, 200)).all()
    assert (np.abs(right - (120, 160, 200)).sum(axis=2) > 100).mean() > 0.9, "the panel replaces the image"
    assert (right.min(axis=2) > 180).sum() > 300, "the title is drawn on the panel"


@pytest.mark.parametrize("treatment", ["overlay", "split"])
def test_small_images_are_scaled_up_so_text_is_legible(treatment: str) -> None:
    out = Image.open(io.BytesIO(apply_text_treatment(png(80, 64), treatment=treatment, title=TITLE, site_name="")))
    assert out.width >= MIN_WIDTH and out.width * 64 == out.height * 80


@pytest.mark.parametrize("style", ["soft", "dark_glass"])
def test_presets_render_a_card_with_the_title(style: str) -> None:
    plain = pixels(png(640, 336))
    card = pixels(render_preset(png(640, 336), style=style, title=TITLE, site_name="Crumb Journal"))
    assert card.shape == plain.shape
    assert np.abs(card - plain).sum(axis=2).mean() > 50, "the backdrop is restyled"
    centre = card[card.shape[0] // 3 : 2 * card.shape[0] // 3, card.shape[1] // 4 : 3 * card.shape[1] // 4]
    assert centre.std() > 20, "the title stands out in the middle of the card"


def test_soft_is_light_and_dark_glass_is_dark() -> None:
    soft = pixels(render_preset(png(640, 336), style="soft", title="T", site_name=""))
    glass = pixels(render_preset(png(640, 336), style="dark_glass", title="T", site_name=""))
    assert soft.mean() > 180 > 90 > glass.mean()


def test_fit_text_shrinks_long_titles_and_cuts_what_cannot_fit() -> None:
    short_font, short = fit_text("Short", 600, 200, max_size=80)
    long_font, lines = fit_text(TITLE * 10, 600, 200, max_size=80)
    assert short == ["Short"] and short_font.size == 80
    assert long_font.size < short_font.size and len(lines) <= 4 and lines[-1].endswith("…")
    assert all(long_font.getlength(line) <= 600 for line in lines)
