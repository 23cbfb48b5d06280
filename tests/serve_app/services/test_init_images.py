"""img2img input: content-checked formats, bounded pixels, clear 400s, no metadata out."""

import base64
import io
import struct
import time
import zlib

import pytest
from PIL import Image

from deployments.protocol import FetchError
from serve_app.errors import InvalidRequest
from serve_app.services.init_images import MAX_INPUT_BYTES, clean_image, header_size, image_size, load_init_image


def encoded(format: str, size=(32, 24), **save) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 40)).save(buffer, format=format, **save)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width`x`height` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    )


async def no_fetch(url: str) -> bytes:
    raise AssertionError("no fetch expected")


def data_url(data: bytes, content_type: str = "image/png") -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


@pytest.mark.parametrize("format", ["PNG", "JPEG", "WEBP"])
def test_png_jpeg_and_webp_come_out_as_plain_png_of_the_same_size(format):
    cleaned = Image.open(io.BytesIO(clean_image(encoded(format))))
    assert (cleaned.format, cleaned.size, cleaned.mode) == ("PNG", (32, 24), "RGB")


def test_exif_in_the_input_is_not_in_the_output():
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {2: (52.0, 31.0, 0.0)}  # GPS latitude
    source = encoded("JPEG", exif=exif.tobytes())
    assert b"SecretCam" in source

    cleaned = clean_image(source)
    assert b"SecretCam" not in cleaned and b"Exif" not in cleaned
    image = Image.open(io.BytesIO(cleaned))
    assert not image.getexif() and not image.info.get("exif")


def test_a_png_declaring_100k_by_100k_pixels_is_a_fast_400():
    started = time.perf_counter()
    with pytest.raises(InvalidRequest) as caught:
        clean_image(png_declaring(100_000, 100_000))
    assert time.perf_counter() - started < 1
    assert caught.value.field == "image" and "pixels" in caught.value.message


def test_just_over_the_pixel_cap_is_rejected_before_decoding():
    with pytest.raises(InvalidRequest, match="4097x4096"):
        clean_image(png_declaring(4097, 4096))


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF",
        encoded("GIF"),
        encoded("BMP"),
        b"",
    ],
    ids=["pdf-named-png", "gif", "bmp", "empty"],
)
def test_other_formats_are_rejected_by_content(data):
    with pytest.raises(InvalidRequest, match="not a PNG, JPEG or WebP") as caught:
        clean_image(data)
    assert caught.value.field == "image"


def test_a_truncated_image_is_a_400_not_a_crash():
    with pytest.raises(InvalidRequest, match="could not be decoded"):
        clean_image(encoded("PNG", size=(256, 256))[:200])


async def test_a_data_url_is_decoded_and_cleaned():
    cleaned = await load_init_image(data_url(encoded("WEBP"), "image/webp"), fetch=no_fetch)
    assert Image.open(io.BytesIO(cleaned)).size == (32, 24)


async def test_a_pdf_behind_an_image_data_url_is_rejected():
    with pytest.raises(InvalidRequest, match="not a PNG"):
        await load_init_image(data_url(b"%PDF-1.4 fake", "image/png"), fetch=no_fetch)


@pytest.mark.parametrize("url", ["data:image/png,rawbytes", "data:image/png;base64,@@@", "ftp://x/a.png", "a.png"])
async def test_malformed_sources_are_400s_on_image(url):
    with pytest.raises(InvalidRequest) as caught:
        await load_init_image(url, fetch=no_fetch)
    assert caught.value.field == "image"


async def test_an_oversized_data_url_is_rejected_before_decoding():
    with pytest.raises(InvalidRequest, match="10 MiB"):
        await load_init_image("data:image/png;base64," + "A" * (MAX_INPUT_BYTES * 4 // 3 + 8), fetch=no_fetch)


async def test_urls_go_through_the_fetcher_and_its_errors_are_400s():
    fetched = []

    async def fetch(url: str) -> bytes:
        fetched.append(url)
        if "blocked" in url:
            raise FetchError("blocked_address", "the URL resolves to a private address")
        return encoded("PNG")

    assert Image.open(io.BytesIO(await load_init_image("https://img.example/a.png", fetch=fetch))).size == (32, 24)
    with pytest.raises(InvalidRequest, match="private address") as caught:
        await load_init_image("http://blocked.example/a.png", fetch=fetch)
    assert caught.value.field == "image"
    assert fetched == ["https://img.example/a.png", "http://blocked.example/a.png"]


@pytest.mark.parametrize(
    "data", [b"\x89PNG\r\n\x1a\n" + b"not a png", b"\xff\xd8\xff" + b"\x00" * 64], ids=["png", "jpeg"]
)
def test_an_undecodable_image_is_described_for_the_user_not_by_pillow(data):
    with pytest.raises(InvalidRequest) as caught:
        clean_image(data)
    message = caught.value.message
    assert "damaged or incomplete" in message
    assert "BytesIO" not in message and "0x" not in message


@pytest.mark.parametrize("format", ["PNG", "JPEG", "WEBP"])
def test_the_header_tells_the_size_the_cleaned_image_will_have(format):
    data = encoded(format, size=(40, 24))
    assert header_size(data) == image_size(clean_image(data)) == (40, 24)


def test_the_header_size_turns_with_the_exif_orientation():
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise
    data = encoded("JPEG", size=(40, 24), exif=exif.tobytes())
    assert header_size(data) == image_size(clean_image(data)) == (24, 40)


def test_an_image_whose_pixels_are_cut_off_still_has_a_size():
    truncated = encoded("PNG", size=(256, 256))[:200]
    assert header_size(truncated) == (256, 256)


def test_a_100k_square_png_is_refused_from_its_header_alone():
    started = time.perf_counter()
    with pytest.raises(InvalidRequest, match="too many pixels"):
        header_size(png_declaring(100_000, 100_000))
    with pytest.raises(InvalidRequest, match="4097x4096"):
        header_size(png_declaring(4097, 4096))
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize("data", [b"%PDF-1.7", b"\x89PNG\r\n\x1a\n" + b"\0" * 20], ids=["pdf", "broken-png-header"])
def test_what_has_no_readable_header_is_a_400_on_image(data):
    with pytest.raises(InvalidRequest) as caught:
        header_size(data)
    assert caught.value.field == "image"
