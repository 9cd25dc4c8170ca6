import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from cutout.engine import (
    DecompressionBomb,
    ImageTooLarge,
    ImageTooSmall,
    InvalidImage,
    Limits,
    TooManyPixels,
    TruncatedImage,
    UnsupportedFormat,
    decode_image,
)

from .conftest import encode

RED = (220, 30, 30)


def red_square(size=(64, 48)) -> Image.Image:
    image = Image.new("RGB", size, (240, 240, 240))
    image.paste(RED, (16, 12, 48, 36))
    return image


def centre(decoded):
    return tuple(decoded.rgb[decoded.height // 2, decoded.width // 2])


@pytest.mark.parametrize(
    ("fmt", "params", "source_format"),
    [
        ("JPEG", {"quality": 95}, "JPEG"),
        ("PNG", {}, "PNG"),
        ("BMP", {}, "BMP"),
        ("WEBP", {"lossless": True}, "WEBP"),
        ("AVIF", {"quality": 95}, "AVIF"),
        ("TIFF", {}, "TIFF"),
        ("GIF", {}, "GIF"),
    ],
)
def test_every_accepted_format_decodes_to_rgb(fmt, params, source_format):
    decoded = decode_image(encode(red_square(), fmt, **params), Limits())
    assert decoded.source_format == source_format
    assert decoded.image.mode == "RGB"
    assert decoded.size == (64, 48)
    r, g, b = centre(decoded)
    assert r > 180 and g < 80 and b < 80


def test_png_16_bit_rgb_and_grey_are_scaled_not_clipped():
    # Written chunk by chunk, so the files really hold 16-bit samples.
    grey = np.full((40, 40), 40000, dtype=">u2")
    decoded = decode_image(png_bytes(grey, color_type=0), Limits())
    assert decoded.image.mode == "RGB"
    assert abs(int(decoded.rgb[0, 0, 0]) - round(40000 / 257)) <= 1

    rgb16 = np.zeros((40, 40, 3), dtype=">u2")
    rgb16[..., 0] = 65535
    rgb16[..., 2] = 32768
    decoded = decode_image(png_bytes(rgb16, color_type=2), Limits())
    assert decoded.size == (40, 40)
    assert tuple(decoded.rgb[5, 5]) == (255, 0, 128)


def png_bytes(pixels: np.ndarray, *, color_type: int, width=None, height=None, idat=None) -> bytes:
    """A PNG written chunk by chunk (16-bit samples, or a fake header for bomb tests)."""
    h = height or pixels.shape[0]
    w = width or pixels.shape[1]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", w, h, 16 if idat is None else 8, color_type, 0, 0, 0)
    if idat is None:
        raw = b"".join(b"\x00" + row.tobytes() for row in pixels)
        idat = zlib.compress(raw)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_palette_grey_and_alpha_pngs():
    palette = red_square().convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    assert decode_image(encode(palette, "PNG"), Limits()).image.mode == "RGB"
    grey = red_square().convert("L")
    decoded = decode_image(encode(grey, "PNG"), Limits())
    assert decoded.image.mode == "RGB" and decoded.rgb[0, 0, 0] == decoded.rgb[0, 0, 2]

    rgba = red_square().convert("RGBA")
    rgba.putalpha(Image.new("L", rgba.size, 255))
    opaque = decode_image(encode(rgba, "PNG"), Limits())
    assert opaque.image.mode == "RGB" and opaque.alpha is None  # all-255 alpha is dropped

    alpha = Image.new("L", rgba.size, 0)
    alpha.paste(255, (16, 12, 48, 36))
    rgba.putalpha(alpha)
    transparent = decode_image(encode(rgba, "PNG"), Limits())
    assert transparent.has_alpha and transparent.alpha is not None
    assert transparent.alpha[0, 0] == 0 and transparent.alpha[24, 32] == 255

    la = Image.merge("LA", (grey, alpha))
    assert decode_image(encode(la, "PNG"), Limits()).has_alpha

    tp = red_square().convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    corner_index = tp.getpixel((0, 0))
    decoded = decode_image(encode(tp, "PNG", transparency=corner_index), Limits())
    assert decoded.has_alpha and decoded.alpha is not None and decoded.alpha[0, 0] == 0


def test_gif_uses_first_frame():
    frames = [Image.new("RGB", (40, 40), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    decoded = decode_image(out.getvalue(), Limits())
    r, _g, b = decoded.rgb[20, 20]
    assert r > 200 and b < 50


def test_exif_orientation_is_applied():
    upright = red_square((80, 40))  # wide, red block in the middle
    upright.paste((0, 0, 255), (0, 0, 10, 40))  # blue strip on the left edge
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a sideways camera writes: 40x80
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view": undoes the counter-clockwise ROTATE_90
    decoded = decode_image(encode(stored, "JPEG", quality=95, exif=exif.tobytes()), Limits())
    assert decoded.orientation == 6
    assert decoded.size == (80, 40)
    r, _g, b = decoded.rgb[20, 3]
    assert b > 180 and r < 80  # the blue strip is back on the left


def test_cmyk_is_converted_to_rgb():
    cmyk = Image.new("CMYK", (40, 40), (0, 255, 255, 0))  # pure red in CMYK
    decoded = decode_image(encode(cmyk, "JPEG", quality=95), Limits())
    r, g, b = decoded.rgb[20, 20]
    assert decoded.image.mode == "RGB" and r > 200 and g < 60 and b < 60


def test_icc_profile_is_converted_to_srgb():
    from PIL import ImageCms

    # A LAB-to-sRGB style check needs a non-sRGB RGB profile; build one from sRGB with a different
    # white point is not possible in Pillow, so embed sRGB and check the pixels are unchanged.
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    decoded = decode_image(encode(red_square(), "PNG", icc_profile=profile), Limits())
    assert centre(decoded) == RED
    assert decoded.icc_converted is False  # sRGB already: no per-pixel pass


def test_limits_bytes_min_side_and_pixels():
    data = encode(red_square(), "PNG")
    with pytest.raises(ImageTooLarge) as info:
        decode_image(data, Limits(max_bytes=len(data) - 1))
    assert info.value.code == "image_too_large"
    with pytest.raises(ImageTooSmall) as small:
        decode_image(encode(Image.new("RGB", (31, 100)), "PNG"), Limits())
    assert small.value.code == "image_too_small"
    with pytest.raises(TooManyPixels) as many:
        decode_image(data, Limits(max_pixels=64 * 48 - 1))
    assert many.value.code == "too_many_pixels"


def test_decompression_bomb_is_refused_before_decoding():
    # 100000 x 100000 declared in a 100-byte file: refused from the header alone.
    bomb = png_bytes(
        np.zeros((1, 1), np.uint8),
        color_type=0,
        width=100_000,
        height=100_000,
        idat=zlib.compress(b"\0" * 10),
    )
    assert len(bomb) < 200
    with pytest.raises(TooManyPixels) as info:
        decode_image(bomb, Limits())
    assert isinstance(info.value, DecompressionBomb)
    assert info.value.code == "too_many_pixels"
    # Above our limit but below Pillow's own bomb threshold: still refused, still cheap.
    big = png_bytes(
        np.zeros((1, 1), np.uint8),
        color_type=0,
        width=6000,
        height=6000,
        idat=zlib.compress(b"\0" * 10),
    )
    with pytest.raises(TooManyPixels):
        decode_image(big, Limits())


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_are_refused(fmt):
    data = encode(Image.effect_noise((200, 200), 64).convert("RGB"), fmt)
    with pytest.raises(TruncatedImage) as info:
        decode_image(data[: len(data) // 2], Limits())
    assert info.value.code == "invalid_image"
    assert "truncated" in info.value.message


@pytest.mark.parametrize(
    ("data", "error", "word"),
    [
        (b"", InvalidImage, "empty"),
        (b"hello, this is not an image at all" * 10, InvalidImage, "not an image"),
        (b"%PDF-1.7\n" + b"0" * 100, UnsupportedFormat, "PDF"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", UnsupportedFormat, "SVG"),
        (b"\x00\x00\x00\x18ftypheic" + b"\0" * 64, UnsupportedFormat, "HEIC"),
    ],
)
def test_non_images_get_specific_errors(data, error, word):
    with pytest.raises(error) as info:
        decode_image(data, Limits())
    assert word in info.value.message


def test_formats_pillow_knows_but_we_do_not_accept():
    with pytest.raises(UnsupportedFormat) as info:
        decode_image(encode(red_square(), "ICO"), Limits())
    assert "ICO" in info.value.message
    with pytest.raises(UnsupportedFormat):
        decode_image(encode(red_square(), "PPM"), Limits())
