"""The image an `<img>` shows when the GET-image endpoint cannot serve one: the error category
and a short description, drawn with Pillow's built-in font (no font file to ship or find)."""

import io
import textwrap

from PIL import Image, ImageDraw, ImageFont

PLACEHOLDER_SIZE = (512, 512)
_BACKGROUND = (38, 38, 46)
_ACCENT = (235, 87, 87)
_TEXT = (225, 225, 232)


def render_placeholder(code: str, message: str, *, size: tuple[int, int] = PLACEHOLDER_SIZE) -> bytes:
    """A PNG stating `code` and `message` (wrapped, cut to fit)."""
    width, height = size
    image = Image.new("RGB", size, _BACKGROUND)
    draw = ImageDraw.Draw(image)
    title = ImageFont.load_default(size=max(12, width // 20))
    body = ImageFont.load_default(size=max(10, width // 32))
    margin = width // 16
    draw.rectangle((0, 0, width, margin // 2), fill=_ACCENT)
    y = margin
    draw.text((margin, y), code, font=title, fill=_ACCENT)
    y += int(title.size * 1.8)
    chars_per_line = max(10, int((width - 2 * margin) / (body.size * 0.55)))
    lines = textwrap.wrap(message, width=chars_per_line)
    max_lines = max(1, (height - y - margin) // int(body.size * 1.4))
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: chars_per_line - 1] + "…"
    for line in lines:
        draw.text((margin, y), line, font=body, fill=_TEXT)
        y += int(body.size * 1.4)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
