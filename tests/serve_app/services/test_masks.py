"""Inpainting masks: OpenAI's transparent-area masks become pixelray's white-area ones; sizes must match."""

import io

import numpy as np
import pytest
from PIL import Image

from serve_app.errors import InvalidRequest
from serve_app.services.init_images import alpha_to_mask, check_mask_fits


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_fully_transparent_pixels_become_white_and_the_rest_black():
    rgba = Image.new("RGBA", (8, 4), (10, 20, 30, 255))
    rgba.putpixel((1, 2), (10, 20, 30, 0))
    rgba.putpixel((3, 3), (10, 20, 30, 1))

    mask = np.asarray(Image.open(io.BytesIO(alpha_to_mask(png(rgba), field="mask"))))

    assert mask.shape == (4, 8) and mask[2, 1] == 255
    assert (mask == 255).sum() == 1, "only alpha 0 is redrawn, as OpenAI's edits do"


@pytest.mark.parametrize("image", [Image.new("RGB", (8, 8)), Image.new("RGBA", (8, 8), (0, 0, 0, 255))])
def test_a_mask_with_nothing_transparent_is_rejected(image):
    with pytest.raises(InvalidRequest) as caught:
        alpha_to_mask(png(image), field="mask")
    assert caught.value.field == "mask" and "transparent" in caught.value.message


def test_a_mask_of_another_size_is_rejected_naming_both_sizes():
    with pytest.raises(InvalidRequest) as caught:
        check_mask_fits(png(Image.new("RGB", (64, 64))), png(Image.new("L", (32, 64))))
    assert caught.value.field == "mask" and "32x64" in caught.value.message and "64x64" in caught.value.message
    check_mask_fits(png(Image.new("RGB", (64, 64))), png(Image.new("L", (64, 64))))


def test_a_non_image_mask_is_rejected():
    with pytest.raises(InvalidRequest) as caught:
        alpha_to_mask(b"GIF89a...", field="mask")
    assert caught.value.field == "mask"
