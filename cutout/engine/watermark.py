"""The test-mode watermark: a free result that cannot be used as the real one.

:func:`watermark` tiles the word ``CUTOUT TEST`` diagonally over the whole picture, in grey at
partial opacity, on the subject and on transparent parts alike (there it adds alpha, so a
transparent PNG is marked too). Lines are spaced by a fraction of the picture's size, so the
mark is as visible on a thumbnail as on a full-size result.
"""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

TEXT = "CUTOUT TEST"
OPACITY = 110  # of 255
SPACING = 0.18  # of the picture's longer side, between lines of text
ANGLE = 30.0  # degrees


def watermark(picture: Image.Image) -> Image.Image:
    """``picture`` (L, RGB or RGBA) with the test watermark; the mode is kept."""
    width, height = picture.size
    side = max(width, height)
    step = max(12, round(side * SPACING))
    font = ImageFont.load_default(size=max(8, step // 3))
    # The text is drawn on a larger square, turned, and cut to the picture.
    span = round(side * 1.5)
    mark = Image.new("L", (span, span), 0)
    draw = ImageDraw.Draw(mark)
    for row, y in enumerate(range(0, span, step)):
        offset = (row % 2) * step
        for x in range(-offset, span, step * 4):
            draw.text((x, y), TEXT, fill=OPACITY, font=font)
    mark = mark.rotate(ANGLE, resample=Image.Resampling.BILINEAR)
    left, top = (span - width) // 2, (span - height) // 2
    mask = mark.crop((left, top, left + width, top + height))
    if picture.mode == "L":
        grey = Image.new("L", picture.size, 128)
        return Image.composite(grey, picture, mask)
    rgba = picture.convert("RGBA")
    ink = Image.new("RGBA", picture.size, (128, 128, 128, 0))
    ink.putalpha(mask)
    marked = Image.alpha_composite(rgba, ink)
    return marked if picture.mode == "RGBA" else marked.convert(picture.mode)
