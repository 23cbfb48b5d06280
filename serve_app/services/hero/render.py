"""Text on hero images, drawn with Pillow after generation: overlay, split, and the designed cards.

Titles are wrapped and sized to the space they get. Small model outputs are scaled up first:
text needs pixels to be legible, and a hero image is shown at least this wide anyway.
"""

import io
import math
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageStat

from serve_app.services.placeholder import default_font

MIN_WIDTH = 640
WHITE = (255, 255, 255)
Font = ImageFont.FreeTypeFont


def apply_text_treatment(image: bytes, *, treatment: str, title: str, site_name: str) -> bytes:
    """`image` with the page title set on it (`overlay`, `split`), or unchanged (`none`); PNG bytes."""
    if treatment == "none":
        return image
    canvas = _open(image)
    draw_treatment = {"overlay": _overlay, "split": _split}[treatment]
    return _png(draw_treatment(canvas, title, site_name))


def render_preset(image: bytes, *, style: str, title: str, site_name: str) -> bytes:
    """A designed card (`soft` or `dark_glass`) with `image` as its backdrop; PNG bytes."""
    render: Callable[[Image.Image, str, str], Image.Image] = {"soft": _soft, "dark_glass": _dark_glass}[style]
    return _png(render(_open(image), title, site_name))


def _overlay(canvas: Image.Image, title: str, site_name: str) -> Image.Image:
    width, height = canvas.size
    band_top = int(height * 0.55)
    # A gradient band from clear to dark keeps any title readable on any picture.
    shade = Image.new("L", (1, height - band_top))
    shade.putdata([int(215 * min(1.0, 1.6 * y / (height - band_top))) for y in range(height - band_top)])
    band = Image.new("RGB", (width, height - band_top), (0, 0, 0))
    canvas.paste(band, (0, band_top), shade.resize((width, height - band_top)))
    pad = width // 24
    font, lines = fit_text(title, width - 2 * pad, int((height - band_top) * 0.7), max_size=height // 8)
    _draw_lines(ImageDraw.Draw(canvas), lines, font, x=pad, bottom=height - pad, fill=WHITE)
    return canvas


def _split(canvas: Image.Image, title: str, site_name: str) -> Image.Image:
    width, height = canvas.size
    image_width = int(width * 0.55)
    result = Image.new("RGB", (width, height))
    result.paste(_cover(canvas, (image_width, height)), (0, 0))
    mean = ImageStat.Stat(canvas).mean
    panel = tuple(int(c * 0.3) for c in mean)
    ImageDraw.Draw(result).rectangle((image_width, 0, width, height), fill=panel)
    pad = (width - image_width) // 10
    _draw_block(
        result,
        (image_width + pad, pad, width - pad, height - pad),
        title,
        site_name,
        fill=WHITE,
        muted=(200, 200, 200),
        align="left",
    )
    return result


def _soft(canvas: Image.Image, title: str, site_name: str) -> Image.Image:
    backdrop = canvas.filter(ImageFilter.GaussianBlur(canvas.width / 12))
    card = Image.blend(backdrop, Image.new("RGB", canvas.size, (250, 246, 255)), 0.72)
    pad = canvas.width // 10
    _draw_block(
        card,
        (pad, pad, canvas.width - pad, canvas.height - pad),
        title,
        site_name,
        fill=(40, 44, 68),
        muted=(90, 96, 120),
        align="center",
    )
    return card


def _dark_glass(canvas: Image.Image, title: str, site_name: str) -> Image.Image:
    backdrop = canvas.filter(ImageFilter.GaussianBlur(canvas.width / 24))
    card = Image.blend(backdrop, Image.new("RGB", canvas.size, (10, 12, 28)), 0.65).convert("RGBA")
    width, height = canvas.size
    box = (width // 10, height // 6, width - width // 10, height - height // 6)
    glass = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    ImageDraw.Draw(glass).rounded_rectangle(
        box, radius=width // 30, fill=(255, 255, 255, 38), outline=(255, 255, 255, 110), width=max(1, width // 320)
    )
    card = Image.alpha_composite(card, glass).convert("RGB")
    pad = width // 20
    inner = (box[0] + pad, box[1] + pad, box[2] - pad, box[3] - pad)
    _draw_block(card, inner, title, site_name, fill=WHITE, muted=(190, 196, 230), align="center")
    return card


def fit_text(
    text: str, max_width: int, max_height: int, *, max_size: int, max_lines: int = 4
) -> tuple[Font, list[str]]:
    """The largest font (down to a legible minimum) at which `text` wraps into the box."""
    size = max(12, max_size)
    while True:
        font = default_font(size)
        lines = _wrap(text, font, max_width)
        fits = len(lines) <= max_lines and _line_height(font) * len(lines) <= max_height
        if fits or size <= 12:
            if len(lines) > max_lines:
                lines = lines[:max_lines]
                lines[-1] = _ellipsize(lines[-1], font, max_width, cut=True)
            return font, lines
        size = max(12, int(size * 0.9))


def _draw_block(
    image: Image.Image,
    box: tuple[int, int, int, int],
    title: str,
    site_name: str,
    *,
    fill: tuple,
    muted: tuple,
    align: str,
) -> None:
    left, top, right, bottom = box
    site_font = default_font(max(12, (bottom - top) // 12))
    site_height = _line_height(site_font) * 2 if site_name else 0
    font, lines = fit_text(title, right - left, bottom - top - site_height, max_size=(bottom - top) // 5)
    # The site name stays secondary to the title, however narrow the title's column made it.
    site_font = default_font(max(12, int(min(site_font.size, font.size * 0.7))))
    block = _line_height(font) * len(lines) + site_height
    y = top + (bottom - top - block) // 2
    draw = ImageDraw.Draw(image)
    for line in lines:
        x = left if align == "left" else left + (right - left - int(font.getlength(line))) // 2
        draw.text((x, y), line, font=font, fill=fill)
        y += _line_height(font)
    if site_name:
        name = _ellipsize(site_name, site_font, right - left)
        x = left if align == "left" else left + (right - left - int(site_font.getlength(name))) // 2
        draw.text((x, y + _line_height(site_font) // 2), name, font=site_font, fill=muted)


def _draw_lines(draw: ImageDraw.ImageDraw, lines: list[str], font: Font, *, x: int, bottom: int, fill: tuple) -> None:
    y = bottom - _line_height(font) * len(lines)
    for line in lines:
        draw.text((x, y), line, font=font, fill=fill)
        y += _line_height(font)


def _wrap(text: str, font: Font, max_width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= max_width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(_ellipsize(word, font, max_width))
    return lines


def _ellipsize(line: str, font: Font, max_width: int, *, cut: bool = False) -> str:
    """`line` ending in an ellipsis if it is too wide, or if `cut` says text follows it."""
    if not cut and font.getlength(line) <= max_width:
        return line
    while line and font.getlength(line + "…") > max_width:
        line = line[:-1]
    return line + "…"


def _line_height(font: Font) -> int:
    return int(font.size * 1.25)


def _cover(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` scaled to fill `size` and cropped at the centre."""
    scale = max(size[0] / image.width, size[1] / image.height)
    scaled = image.resize((math.ceil(image.width * scale), math.ceil(image.height * scale)), Image.Resampling.LANCZOS)
    left, top = (scaled.width - size[0]) // 2, (scaled.height - size[1]) // 2
    return scaled.crop((left, top, left + size[0], top + size[1]))


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    if image.width < MIN_WIDTH:
        factor = math.ceil(MIN_WIDTH / image.width)
        image = image.resize((image.width * factor, image.height * factor), Image.Resampling.LANCZOS)
    return image


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()
