"""The placeholder image of GET-image errors."""

import io

from PIL import Image

from serve_app.services.placeholder import render_placeholder


def test_the_placeholder_is_a_png_of_the_requested_size_showing_text():
    image = Image.open(io.BytesIO(render_placeholder("UNKNOWN_MODEL", "model: unknown model 'sdxl'", size=(320, 200))))
    assert (image.format, image.size) == ("PNG", (320, 200))
    # Text was drawn: more than the background and the accent bar's colours are used.
    assert len(image.convert("RGB").getcolors(maxcolors=64)) > 4


def test_different_errors_draw_different_images_and_long_messages_still_fit():
    short = render_placeholder("LIMIT", "quota of 5 requests per day reached")
    long = render_placeholder("LIMIT", "word " * 2000)
    assert short != long
    assert Image.open(io.BytesIO(long)).size == (512, 512)
