"""The image an `<img>` shows when the GET-image endpoint cannot serve one: the error category
and a short description, drawn with Pillow's built-in font (no font file to ship or find).

It is drawn as a 32-colour palette PNG (two 16-step ramps, background to text and background to
accent, so text keeps its antialiasing): encoding it takes a fraction of a true-colour PNG's time
on the event loop, and it is about 3 kB on the wire. Repeated errors come from a small cache."""

import io
import textwrap
from functools import lru_cache

from PIL import Image, ImageChops, ImageDraw, ImageFont

PLACEHOLDER_SIZE = (512, 512)
_BACKGROUND = (38, 38, 46)
_TEXT = (225, 225, 232)
_ACCENT = (235, 87, 87)
_STEPS = 16


def _ramp(target: tuple[int, int, int]) -> list[int]:
    return [
        round(b + (t - b) * i / (_STEPS - 1)) for i in range(_STEPS) for b, t in zip(_BACKGROUND, target, strict=True)
    ]


_PALETTE = _ramp(_TEXT) + _ramp(_ACCENT)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return default_font(size)


def default_font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's built-in font at `size`: sizes need FreeType, which Pillow's wheels always ship."""
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise RuntimeError("this Pillow was built without FreeType; install Pillow from its wheels")
    return font


@lru_cache(maxsize=256)
def render_placeholder(code: str, message: str, *, size: tuple[int, int] = PLACEHOLDER_SIZE) -> bytes:
    """A PNG stating `code` and `message` (wrapped, cut to fit)."""
    width, height = size
    title_font = _font(max(12, width // 20))
    body_font = _font(max(10, width // 32))
    margin = width // 16
    title, body = Image.new("L", size, 0), Image.new("L", size, 0)
    ImageDraw.Draw(title).text((margin, margin), code, font=title_font, fill=255)
    y = margin + int(title_font.size * 1.8)
    line_height = int(body_font.size * 1.4)
    chars_per_line = max(10, int((width - 2 * margin) / (body_font.size * 0.55)))
    lines = textwrap.wrap(message, width=chars_per_line)
    max_lines = max(1, (height - y - margin) // line_height)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: chars_per_line - 1] + "…"
    draw = ImageDraw.Draw(body)
    for line in lines:
        draw.text((margin, y), line, font=body_font, fill=255)
        y += line_height
    # Coverage 0–255 becomes a step on a ramp: 0–15 for body text, 16–31 for the accent.
    indexed = ImageChops.lighter(
        body.point(lambda v: v * _STEPS // 256), title.point(lambda v: _STEPS + v * _STEPS // 256 if v else 0)
    )
    ImageDraw.Draw(indexed).rectangle((0, 0, width, margin // 2), fill=2 * _STEPS - 1)
    indexed.putpalette(_PALETTE)
    buffer = io.BytesIO()
    indexed.save(buffer, format="PNG")
    return buffer.getvalue()
