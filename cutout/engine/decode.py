"""Bytes in, an upright sRGB image out, or a specific error.

Accepted: JPEG (and camera MPO), PNG (8/16-bit, palette, grey, alpha), BMP, WebP, AVIF, GIF (first
frame) and TIFF. The header is checked against the limits before a single pixel is decoded, so a
decompression bomb costs nothing. EXIF orientation is applied, and CMYK or any non-sRGB ICC profile
is converted to sRGB with LittleCMS.
"""

from __future__ import annotations

import functools
import hashlib
import io
import warnings
import zlib
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from .errors import (
    DecompressionBomb,
    ImageTooLarge,
    ImageTooSmall,
    InvalidImage,
    TooManyPixels,
    TruncatedImage,
    UnsupportedFormat,
)
from .limits import Limits

Image.init()  # register every plugin now (MPO, AVIF...), so ``formats=`` below can name them
# Camera MPO files open through the JPEG plugin (their first picture is a plain JPEG).
ACCEPTED_FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "AVIF", "GIF", "TIFF")
ACCEPTED_LABEL = "JPEG, PNG, WebP, AVIF, BMP, GIF or TIFF"
_ORIENTATION = 0x0112
_T = Image.Transpose
# EXIF orientation -> the transpose that makes the image upright (as ImageOps.exif_transpose).
_TRANSPOSE = {
    2: _T.FLIP_LEFT_RIGHT,
    3: _T.ROTATE_180,
    4: _T.FLIP_TOP_BOTTOM,
    5: _T.TRANSPOSE,
    6: _T.ROTATE_270,
    7: _T.TRANSVERSE,
    8: _T.ROTATE_90,
}
# Formats people upload that Pillow cannot open here; named so the error says what the file is.
_KNOWN_OTHERS = (
    (b"%PDF", "PDF"),
    (b"8BPS", "PSD"),
    (b"<svg", "SVG"),
    (b"<?xml", "SVG/XML"),
    (b"\x00\x00\x01\x00", "ICO"),
)
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"heim", b"heis")


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """An upright 8-bit sRGB image: ``image`` is a PIL image in mode ``RGB`` or ``RGBA``.

    ``RGBA`` only when the source has real transparency (an alpha channel that is not all 255).
    ``source_format`` is Pillow's name for what was uploaded (``JPEG``, ``PNG``, ...).
    """

    image: Image.Image
    source_format: str
    orientation: int = 1
    icc_converted: bool = False

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    @property
    def has_alpha(self) -> bool:
        return self.image.mode == "RGBA"

    @cached_property
    def rgb(self) -> np.ndarray:
        """``(H, W, 3)`` uint8 colour (for RGBA sources the colour as stored, not composited)."""
        image = self.image if self.image.mode == "RGB" else self.image.convert("RGB")
        return np.asarray(image)

    @cached_property
    def rgb_image(self) -> Image.Image:
        return self.image if self.image.mode == "RGB" else self.image.convert("RGB")

    @cached_property
    def _reductions(self) -> dict[int, Image.Image]:
        return {}

    def reduced(self, min_side: int) -> Image.Image:
        """The RGB image box-reduced by the largest integer factor that keeps its long side at least
        ``min_side`` (the image itself when that factor is 1). Cached: the model input and the
        guided filter share one, and Pillow's ``reduce`` is a fraction of a resize's cost.
        """
        factor = max(1, max(self.size) // max(1, min_side))
        if factor == 1:
            return self.rgb_image
        cache = self._reductions
        if factor not in cache:
            cache[factor] = self.rgb_image.reduce(factor)
        return cache[factor]

    @cached_property
    def alpha(self) -> np.ndarray | None:
        """The source's own ``(H, W)`` uint8 alpha, or None when it is opaque."""
        return np.asarray(self.image.getchannel("A")) if self.has_alpha else None

    @classmethod
    def from_pil(cls, image: Image.Image, source_format: str = "PIL") -> DecodedImage:
        """Wrap an already-upright PIL image (tests, tools)."""
        return cls(_to_rgb_or_rgba(image), source_format)


def decode_image(data: bytes, limits: Limits | None = None) -> DecodedImage:
    """Decode ``data`` within ``limits``; raise an :class:`~cutout.engine.errors.EngineError`."""
    limits = limits or Limits()
    if not data:
        raise InvalidImage("the file is empty")
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(f"the file is {_mb(len(data))}; the limit is {_mb(limits.max_bytes)}")
    image = _open(data)
    fmt = image.format or "unknown"
    width, height = image.size
    if width * height > limits.max_pixels:
        raise TooManyPixels(
            f"the image is {width}x{height} ({width * height / 1e6:.1f} MP); "
            f"the limit is {limits.max_pixels / 1e6:.1f} MP"
        )
    if min(width, height) < limits.min_side:
        raise ImageTooSmall(
            f"the image is {width}x{height}; both sides must be at least {limits.min_side} px"
        )
    try:
        image.load()
        orientation = _orientation(image)
        icc = image.info.get("icc_profile")
        image, icc_converted = _to_srgb(image, icc if isinstance(icc, bytes) else None)
        if orientation != 1:
            image = image.transpose(_TRANSPOSE[orientation])
    except (OSError, EOFError, SyntaxError, ValueError, zlib.error) as exc:
        text = str(exc).lower()
        if "truncated" in text or isinstance(exc, EOFError) or "unexpected end" in text:
            raise TruncatedImage(
                f"the {fmt} file is truncated (it ends before the image does)"
            ) from None
        raise InvalidImage(f"the {fmt} file is damaged and cannot be decoded ({exc})") from None
    return DecodedImage(image, fmt, orientation=orientation, icc_converted=icc_converted)


def decode_background(data: bytes, limits: Limits | None = None) -> DecodedImage:
    """A background picture: decoded like an upload, within the same byte and pixel limits, but
    any size down to 1 px (a tiny texture or a 1x1 colour is scaled up to cover the canvas)."""
    return decode_image(data, replace(limits or Limits(), min_side=1))


def _open(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        except Image.DecompressionBombError as exc:
            raise DecompressionBomb(
                f"the image declares an enormous canvas and was refused ({exc})"
            ) from None
        except UnidentifiedImageError:
            pass
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise InvalidImage(f"the image header is damaged ({exc})") from None
        # Not one of ours: name the format if we can, so the message is useful.
        other = _sniff_other(data)
        if other is None:
            try:
                with Image.open(io.BytesIO(data)) as probe:
                    other = probe.format
            except Image.DecompressionBombError:
                raise DecompressionBomb(
                    "the image declares an enormous canvas and was refused"
                ) from None
            except Exception:
                other = None
    if other:
        raise UnsupportedFormat(f"{other} files are not supported; send {ACCEPTED_LABEL}")
    raise InvalidImage(f"the file is not an image we can read; send {ACCEPTED_LABEL}")


def _sniff_other(data: bytes) -> str | None:
    head = data[:64].lstrip()
    for magic, name in _KNOWN_OTHERS:
        if head.startswith(magic):
            return name
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "HEIC/HEIF"
    return None


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _to_srgb(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, bool]:
    """Convert any mode to RGB/RGBA, honouring an embedded ICC profile."""
    mode = image.mode
    if mode == "CMYK":
        if icc:
            transform = _transform(icc, "CMYK")
            if transform is not None:
                return _apply(image, transform), True
        return image.convert("RGB"), False
    image = _to_rgb_or_rgba(image)
    if icc and mode in ("RGB", "RGBA", "P", "PA"):
        transform = _transform(icc, "RGB")
        if transform is not None:
            if image.mode == "RGBA":
                alpha = image.getchannel("A")
                converted = _apply(image.convert("RGB"), transform)
                converted.putalpha(alpha)
                return converted, True
            return _apply(image, transform), True
    return image, False


def _apply(image: Image.Image, transform: ImageCms.ImageCmsTransform) -> Image.Image:
    out = ImageCms.applyTransform(image, transform)
    if out is None:  # pragma: no cover - only with inPlace=True
        raise InvalidImage("colour conversion failed")
    return out


@functools.lru_cache(maxsize=32)
def _transform_cached(digest: str, icc: bytes, in_mode: str) -> ImageCms.ImageCmsTransform | None:
    del digest  # part of the cache key only
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = (ImageCms.getProfileDescription(source) or "").lower()
        if in_mode == "RGB" and "srgb" in description:
            return None  # already sRGB: skip a pointless per-pixel pass
        target = ImageCms.createProfile("sRGB")
        return ImageCms.buildTransform(
            source, target, in_mode, "RGB", renderingIntent=ImageCms.Intent.PERCEPTUAL
        )
    except Exception:
        return None


def _transform(icc: bytes, in_mode: str) -> ImageCms.ImageCmsTransform | None:
    return _transform_cached(hashlib.sha1(icc, usedforsecurity=False).hexdigest(), icc, in_mode)


def _to_rgb_or_rgba(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        image = _high_depth_to_l(image)
        mode = "L"
    if mode == "RGB":
        return image
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        low, _high = rgba.getchannel("A").getextrema()
        return rgba if low < 255 else rgba.convert("RGB")  # type: ignore[operator]
    return image.convert("RGB")


def _high_depth_to_l(image: Image.Image) -> Image.Image:
    """16-bit or 32-bit grey to 8-bit, scaling rather than clipping (Pillow's convert clips)."""
    values = np.asarray(image).astype(np.float64)
    high = float(values.max()) if values.size else 0.0
    if image.mode == "F":
        scale = 255.0 if high <= 1.0 else 255.0 / max(high, 1e-9)
    elif image.mode.startswith("I;16") or high > 255:
        scale = 255.0 / 65535.0 if high <= 65535 else 255.0 / high
    else:
        scale = 1.0
    return Image.fromarray(np.clip(values * scale + 0.5, 0, 255).astype(np.uint8), "L")


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"
