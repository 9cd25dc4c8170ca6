"""Images for API tests, made in code (a salient figure that u2netp segments reliably)."""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image

from cutout.tools.synthetic import subject_scene


@lru_cache(maxsize=32)
def scene(width: int = 160, height: int = 120, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    return subject_scene(width, height, seed=seed)


def image_bytes(
    width: int = 160, height: int = 120, fmt: str = "JPEG", *, seed: int = 1, **params: object
) -> bytes:
    rgb, _alpha = scene(width, height, seed)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, fmt, **params)
    return out.getvalue()


def png16_bytes(width: int = 120, height: int = 90) -> bytes:
    """A 16-bit-per-channel RGB PNG, written by hand (Pillow cannot write 16-bit RGB)."""
    import struct
    import zlib

    rgb, _ = scene(width, height, 2)
    wide = rgb.astype(">u2") * 257
    raw = b"".join(b"\x00" + wide[y].tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 1))
        + chunk(b"IEND", b"")
    )


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def padded(data: bytes, size: int) -> bytes:
    """A valid JPEG/PNG made at least ``size`` bytes long with a trailing comment/chunk of junk."""
    if len(data) >= size:
        return data
    return data + b"\x00" * (size - len(data))
