"""process(): bytes in, bytes out, through the real u2netp for every input kind."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from cutout.engine import ImageTooSmall, Limits, Options, TooManyPixels, process

from .conftest import iou, open_result

FAST = Options(pipeline="fast", mode="mask")


def png16(rgb: np.ndarray) -> bytes:
    """A real 16-bit RGB PNG (Pillow cannot write one), chunk by chunk."""
    samples = (rgb.astype(">u2") * 257).astype(">u2")
    raw = b"".join(b"\0" + row.tobytes() for row in samples)
    h, w = rgb.shape[:2]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def encoded(rgb: np.ndarray, kind: str) -> bytes:
    if kind == "PNG16":
        return png16(rgb)
    image = Image.fromarray(rgb)
    out = io.BytesIO()
    params: dict = {"JPEG": {"quality": 92}, "WEBP": {"quality": 92}, "AVIF": {"quality": 90}}.get(
        kind, {}
    )
    if kind == "GIF":
        image = image.quantize(64)
    if kind == "PNG-P":
        image, kind = image.quantize(128), "PNG"
    if kind == "PNG-L":
        image, kind = image.convert("L"), "PNG"
    image.save(out, kind, **params)
    return out.getvalue()


@pytest.mark.parametrize(
    "kind", ["JPEG", "PNG", "PNG16", "PNG-P", "PNG-L", "BMP", "WEBP", "AVIF", "GIF", "TIFF"]
)
def test_every_input_kind_is_cut_out(scene, kind, model_dir):
    rgb, truth = scene
    result = process(encoded(rgb, kind), FAST, limits=Limits(), model_dir=model_dir)
    mask = np.asarray(open_result(result.data))
    assert mask.shape == truth.shape
    assert iou(mask >= 128, truth >= 0.5) > 0.85, kind
    assert result.metadata["source_format"] in kind or kind.startswith("PNG")


def test_exif_rotated_photo_gives_an_upright_cutout(scene, model_dir):
    rgb, truth = scene
    stored = Image.fromarray(rgb).transpose(Image.Transpose.ROTATE_90)  # sideways on disk: 240x320
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    stored.save(out, "JPEG", quality=92, exif=exif.tobytes())
    result = process(out.getvalue(), Options(pipeline="fast"), limits=Limits(), model_dir=model_dir)
    cutout = np.asarray(open_result(result.data))
    assert (result.width, result.height) == (320, 240)
    assert iou(cutout[..., 3] >= 128, truth >= 0.5) > 0.9  # head up, where the upright truth has it


def test_limits_are_enforced_before_any_model_runs(scene_png, tmp_path):
    # An empty model dir would raise ModelMissing if the model were reached; limits come first.
    with pytest.raises(TooManyPixels):
        process(scene_png, FAST, limits=Limits(max_pixels=1000), model_dir=tmp_path)
    tiny = io.BytesIO()
    Image.new("RGB", (20, 20)).save(tiny, "PNG")
    with pytest.raises(ImageTooSmall):
        process(tiny.getvalue(), FAST, limits=Limits(), model_dir=tmp_path)


def test_metadata_and_timings(scene_jpeg, model_dir):
    result = process(
        scene_jpeg,
        Options(pipeline="fast", size="preview", crop=True),
        limits=Limits(),
        model_dir=model_dir,
    )
    meta = result.metadata
    assert (meta["original_width"], meta["original_height"]) == (320, 240)
    assert max(meta["width"], meta["height"]) <= 256
    timings = meta["timings_ms"]
    assert {"decode", "preprocess", "inference", "refine", "layout", "encode", "total"} <= set(
        timings
    )
    assert timings["total"] >= timings["inference"] > 0
