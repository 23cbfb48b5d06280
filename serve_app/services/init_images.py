"""img2img input: fetched or decoded, checked by content, bounded in pixels, re-encoded clean."""

import asyncio
import base64
import binascii
import io
import re
from collections.abc import Awaitable, Callable
from typing import Any

from PIL import ExifTags, Image, ImageOps
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

from deployments.protocol import FetchError
from serve_app.errors import InvalidRequest, ServiceUnavailable

MAX_INPUT_BYTES = 10 * 1024 * 1024
# Far below Pillow's decompression-bomb limit (~89 MP): 16 MP decodes to at most 48 MiB of RGB.
MAX_INPUT_PIXELS = 4096 * 4096
_DATA_URL = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*);base64,", re.I)
_ALLOWED = "PNG, JPEG or WebP"

ImageFetcher = Callable[[str], Awaitable[bytes]]


def scraper_image_fetcher(scraper: Any | None) -> ImageFetcher:
    """Image downloads through the Scraper deployment's handle: every fetch of a user URL
    leaves from there. Without a scraper (an app built without one) URLs are refused."""

    async def fetch(url: str) -> bytes:
        if scraper is None:
            raise FetchError("no_fetcher", "this server fetches no image URLs; send the image as a data: URL")
        try:
            return await scraper.fetch_image.remote(url)
        except (BackPressureError, DeploymentUnavailableError):
            raise ServiceUnavailable("the image fetcher is busy or down; retry shortly", retry_after=5) from None

    return fetch


def sniff_format(data: bytes) -> str | None:
    """The Pillow format name from the file's magic bytes, for the three formats we accept."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def decode_data_url(url: str, *, field: str = "image") -> bytes:
    match = _DATA_URL.match(url)
    if match is None:
        raise InvalidRequest(field=field, message="a data: URL must be base64, e.g. data:image/png;base64,...")
    payload = url[match.end() :]
    if len(payload) > (MAX_INPUT_BYTES // 3 + 1) * 4:
        raise InvalidRequest(field=field, message=f"the image is larger than {MAX_INPUT_BYTES // 2**20} MiB")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(field=field, message="the data: URL is not valid base64") from None


def clean_image(data: bytes, *, field: str = "image") -> bytes:
    """The input as a metadata-free RGB PNG. Rejects other formats (by content, whatever the
    name or declared type), oversized images (from the header, before decoding pixels) and
    undecodable files, each as a 400 on `field`."""
    kind = sniff_format(data)
    if kind is None:
        raise InvalidRequest(field=field, message=f"not a {_ALLOWED} image (judged by its content)")
    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as image:
            width, height = image.size
            if width * height > MAX_INPUT_PIXELS:
                raise InvalidRequest(
                    field=field,
                    message=f"{width}x{height} is too many pixels; at most {MAX_INPUT_PIXELS:,} (e.g. 4096x4096)",
                )
            # Orientation is the one piece of EXIF worth keeping: apply it to the pixels, drop the rest.
            pixels = ImageOps.exif_transpose(image).convert("RGB")
    except Image.DecompressionBombError:
        raise InvalidRequest(field=field, message=f"too many pixels; at most {MAX_INPUT_PIXELS:,}") from None
    except (OSError, SyntaxError, ValueError):
        # Pillow's own messages name its internals (`<_io.BytesIO object at 0x...>`), not the upload.
        raise InvalidRequest(
            field=field, message=f"the {kind} image is damaged or incomplete and could not be decoded"
        ) from None
    buffer = io.BytesIO()
    # Fast compression: the bytes only travel to the replica, which decodes them at once.
    pixels.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


async def load_init_image(source: str, *, fetch: ImageFetcher, field: str = "image") -> bytes:
    """The img2img or inpainting input from an http(s) URL (through `fetch`, the SSRF-safe
    scraper) or a data: URL, cleaned by `clean_image`. Every problem is an InvalidRequest on
    `field` (`image`, or `mask` for an inpainting mask)."""
    return await asyncio.to_thread(clean_image, await read_image(source, fetch=fetch, field=field), field=field)


async def read_image(source: str, *, fetch: ImageFetcher, field: str = "image") -> bytes:
    """The bytes of an image source as `load_init_image` takes it, not yet decoded."""
    if source.startswith("data:"):
        data = decode_data_url(source, field=field)
    elif re.match(r"^https?://", source, re.I):
        try:
            data = await fetch(source)
        except FetchError as exc:
            raise InvalidRequest(field=field, message=f"could not fetch {source}: {exc.message}") from None
    else:
        raise InvalidRequest(field=field, message="give an http(s) URL or a data: URL")
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidRequest(field=field, message=f"the image is larger than {MAX_INPUT_BYTES // 2**20} MiB")
    return data


def header_size(data: bytes, *, field: str = "image") -> tuple[int, int]:
    """(width, height) that `clean_image` will give `data`, read from the header alone (Pillow
    decodes no pixel until asked), its EXIF orientation applied; InvalidRequest on `field` for
    what has no readable header of an accepted format or too many pixels."""
    kind = sniff_format(data)
    if kind is None:
        raise InvalidRequest(field=field, message=f"not a {_ALLOWED} image (judged by its content)")
    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as image:
            width, height = image.size
            # A PNG's EXIF may follow its pixels, and reading it there would decode them.
            exif = image.getexif() if kind != "PNG" or "exif" in image.info else Image.Exif()
    except Image.DecompressionBombError:
        raise InvalidRequest(field=field, message=f"too many pixels; at most {MAX_INPUT_PIXELS:,}") from None
    except (OSError, SyntaxError, ValueError):
        raise InvalidRequest(field=field, message=f"the {kind} image's header could not be read") from None
    if width * height > MAX_INPUT_PIXELS:
        raise InvalidRequest(
            field=field, message=f"{width}x{height} is too many pixels; at most {MAX_INPUT_PIXELS:,} (e.g. 4096x4096)"
        )
    # Orientations 5–8 turn the image a quarter, which `clean_image` applies to the pixels.
    return (height, width) if exif.get(ExifTags.Base.Orientation) in (5, 6, 7, 8) else (width, height)


def image_size(png: bytes) -> tuple[int, int]:
    """(width, height) of an image `clean_image` produced, read from its header."""
    with Image.open(io.BytesIO(png)) as image:
        return image.size


def check_mask_fits(image: bytes, mask: bytes) -> None:
    """A mask must cover its image pixel for pixel: a scaled one would redraw the wrong area."""
    if image_size(mask) != image_size(image):
        (mask_w, mask_h), (image_w, image_h) = image_size(mask), image_size(image)
        raise InvalidRequest(
            field="mask",
            message=f"is {mask_w}x{mask_h} but the image is {image_w}x{image_h}; send a mask of the same size",
        )


def alpha_to_mask(data: bytes, *, field: str) -> bytes:
    """An OpenAI-style edit mask (fully transparent pixels are redrawn) as a pixelray mask: a
    greyscale PNG, white where the alpha channel is 0. A 400 on `field` when nothing is
    transparent, since the edit would then change nothing."""
    kind = sniff_format(data)
    if kind is None:
        raise InvalidRequest(field=field, message=f"not a {_ALLOWED} image (judged by its content)")
    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as image:
            if image.width * image.height > MAX_INPUT_PIXELS:
                raise InvalidRequest(field=field, message=f"too many pixels; at most {MAX_INPUT_PIXELS:,}")
            alpha = image.convert("RGBA").getchannel("A")
    except Image.DecompressionBombError:
        raise InvalidRequest(field=field, message=f"too many pixels; at most {MAX_INPUT_PIXELS:,}") from None
    except (OSError, SyntaxError, ValueError):
        raise InvalidRequest(
            field=field, message=f"the {kind} image is damaged or incomplete and could not be decoded"
        ) from None
    mask = alpha.point(lambda value: 255 if value == 0 else 0)
    if mask.getbbox() is None:
        raise InvalidRequest(
            field=field, message="has no fully transparent pixel; make the area to edit transparent (alpha 0)"
        )
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
