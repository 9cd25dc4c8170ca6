"""Image encoders with settings chosen for a cutout service.

- PNG: our own small writer (:func:`png_bytes`): the "Up" filter for every row (one vectorised
  numpy subtraction) and zlib level 1 with the Z_RLE strategy, deflated in parallel slices on big
  images. A cutout's transparent area is zeroed before encoding, so it is long runs that RLE
  handles at memory speed; on photo content filtered residuals gain little from LZ matching. On a
  1.5 MP cutout this is ~3x faster than Pillow at level 1 (which picks a filter per row by trying
  all five) and *smaller* (0.55 vs 0.69 MB), and ~6x faster than Pillow's default level 6 that
  rembg uses, which alone costs more than u2netp's inference. Output is standard PNG; the tests
  decode it with Pillow and compare pixels exactly.
- JPEG: quality 90 with 4:4:4 chroma, so saturated subject edges on a white background do not
  smear into the background as they do with 4:2:0.
- WebP: lossy quality 90 with lossless-quality alpha (alpha_quality=100), method 3: within a few
  percent of method 4's size at about two thirds of its time.
- AVIF: quality 80, speed 8: libavif's slower speeds cost seconds for a percent or two of size.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import numpy as np
from PIL import Image

CONTENT_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "avif": "image/avif",
    "zip": "application/zip",
}
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "avif": "avif", "zip": "zip"}

PNG_COMPRESS_LEVEL = 1
JPEG_QUALITY = 90
WEBP_QUALITY = 90
WEBP_METHOD = 3
AVIF_QUALITY = 80
AVIF_SPEED = 8


def encode(image: Image.Image, fmt: str) -> bytes:
    """Encode one PIL image (mode L, RGB or RGBA) as ``fmt`` (not zip)."""
    out = io.BytesIO()
    if fmt == "png":
        return png_bytes(np.asarray(image))
    elif fmt == "jpeg":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=JPEG_QUALITY, subsampling=0 if image.mode == "RGB" else -1)
    elif fmt == "webp":
        image.save(out, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD, alpha_quality=100)
    elif fmt == "avif":
        image.save(out, "AVIF", quality=AVIF_QUALITY, speed=AVIF_SPEED)
    else:
        raise ValueError(f"cannot encode {fmt!r}")
    return out.getvalue()


def encode_zip(color: Image.Image, alpha: Image.Image) -> bytes:
    """remove.bg's ZIP layout: ``color.jpg`` (RGB) and ``alpha.png`` (8-bit greyscale), same size."""
    out = io.BytesIO()
    # Stored, not deflated: both members are already compressed.
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("color.jpg", encode(color.convert("RGB"), "jpeg"))
        archive.writestr("alpha.png", encode(alpha.convert("L"), "png"))
    return out.getvalue()


_PNG_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (L, LA, RGB, RGBA)
_PARALLEL_MIN_BYTES = 1 << 20  # below this one thread is quicker than handing work out
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(
            max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="png"
        )
    return _pool


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))
    )


def _deflate_raw(data: memoryview | bytes, last: bool) -> bytes:
    compressor = zlib.compressobj(PNG_COMPRESS_LEVEL, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
    body = compressor.compress(data)
    # A full flush ends on a byte boundary with a fresh dictionary, so slices concatenate.
    return body + compressor.flush(zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH)


_ADLER_BASE = 65521


def adler32_combine(first: int, second: int, second_length: int) -> int:
    """Adler-32 of ``a + b`` from ``adler32(a)``, ``adler32(b)`` and ``len(b)`` (the sum of bytes
    and the sum of running sums, both modulo 65521, shifted by the second part's length)."""
    a1, b1 = first & 0xFFFF, first >> 16
    a2, b2 = second & 0xFFFF, second >> 16
    a = (a1 + a2 - 1) % _ADLER_BASE
    b = (b1 + b2 + second_length * (a1 - 1)) % _ADLER_BASE
    return (b << 16) | a


def _filtered_rows(rows: np.ndarray, start: int, stop: int) -> np.ndarray:
    """PNG scanlines ``start..stop`` of ``rows`` (H, row bytes) with filter type 2 ("Up"): each
    byte minus the byte above it, modulo 256; the image's first row stays as it is."""
    out = np.empty((stop - start, rows.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = 2
    first = start
    if start == 0:
        out[0, 1:] = rows[0]
        first = 1
    np.subtract(rows[first:stop], rows[first - 1 : stop - 1], out=out[first - start :, 1:])
    return out


def _encode_slice(rows: np.ndarray, start: int, stop: int, last: bool) -> tuple[bytes, int, int]:
    """Filter, checksum and deflate one slice of scanlines: (deflate bytes, Adler-32, length)."""
    raw = memoryview(_filtered_rows(rows, start, stop).data).cast("B")
    return _deflate_raw(raw, last), zlib.adler32(raw), len(raw)


def png_bytes(pixels: np.ndarray, *, text: Mapping[str, str] | None = None) -> bytes:
    """Encode an 8-bit (H, W) or (H, W, C) array, C in 1..4, as PNG. Deterministic output.

    ``text`` becomes ``tEXt`` chunks (Latin-1 keys and values), which Pillow reads into ``info``.

    Big images are cut into one slice of whole rows per worker; each worker filters, checksums
    and deflates its own slice (numpy and zlib release the GIL), and the checksums are combined.
    """
    arr = np.ascontiguousarray(pixels, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[..., None]
    height, width, channels = arr.shape
    rows = arr.reshape(height, width * channels)
    workers = min(4, os.cpu_count() or 1, height)
    if rows.nbytes < _PARALLEL_MIN_BYTES or workers < 2:
        bounds = [0, height]
    else:
        bounds = [height * k // workers for k in range(workers + 1)]
    jobs = [(rows, lo, hi, hi == height) for lo, hi in pairwise(bounds)]
    if len(jobs) == 1:
        parts = [_encode_slice(*jobs[0])]
    else:
        parts = list(_executor().map(lambda job: _encode_slice(*job), jobs))
    checksum = parts[0][1]
    for _, adler, length in parts[1:]:
        checksum = adler32_combine(checksum, adler, length)
    stream = b"".join([b"\x78\x01", *(part[0] for part in parts), struct.pack(">I", checksum)])
    header = struct.pack(">IIBBBBB", width, height, 8, _PNG_COLOUR_TYPES[channels], 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            *(
                _chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
                for key, value in (text or {}).items()
            ),
            _chunk(b"IDAT", stream),
            _chunk(b"IEND", b""),
        ]
    )
