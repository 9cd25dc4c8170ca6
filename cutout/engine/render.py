"""From an image and its matte to the bytes the caller asked for.

Order of work, chosen so that small outputs are cheap: decide the canvas (whole image, or the
subject's box plus margin and shadow), decontaminate edge colours inside it, resize to the output
size, then compose the mode's layers (background colour, shadow, subject) at output resolution and
encode. The matte is never recomputed, so one matte serves any number of renders.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from . import encode as enc
from .decode import DecodedImage
from .errors import InvalidOption
from .foreground import STAT_SIDE, cutout_rgba
from .matte import Matte
from .options import Options

SUBJECT_THRESHOLD = 10  # alpha above this (of 255) counts as subject for boxes and crops
CONTACT_HEIGHT = 0.05  # contact shadow: the silhouette squashed to this fraction of subject height
DROP_SHADOW_STRENGTH = 0.6  # the soft drop shadow is this much lighter than the contact shadow
WHITE = (255, 255, 255, 255)

Box = tuple[int, int, int, int]  # left, top, right, bottom (exclusive), may extend past the image


@dataclass(frozen=True)
class Result:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    metadata: dict[str, Any] = field(default_factory=dict)


def subject_bbox(alpha: np.ndarray, threshold: int = SUBJECT_THRESHOLD) -> Box | None:
    """Bounding box of alpha > threshold as (left, top, right, bottom), or None if empty."""
    mask = alpha > threshold
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


@dataclass(frozen=True)
class ShadowSpec:
    opacity: float
    blur: float  # px at full resolution
    dx: float
    dy: float

    def extent(self, bbox: Box) -> Box:
        """Box holding the subject and its shadow, at full resolution."""
        left, top, right, bottom = bbox
        spread = 2.0 * self.blur
        contact = CONTACT_HEIGHT * (bottom - top)
        return (
            round(min(left, left + self.dx - spread)),
            round(min(top, top + self.dy - spread)),
            round(max(right, right + self.dx + spread)),
            round(max(bottom + contact + self.blur, bottom + self.dy + spread)),
        )


def render(image: DecodedImage, matte: Matte, options: Options) -> Result:
    """Render ``options`` from an image and its matte (no model is run)."""
    if matte.size != image.size:
        raise InvalidOption(
            f"matte is {matte.width}x{matte.height} but the image is {image.width}x{image.height}",
            field="matte",
        )
    timings: dict[str, float] = {}
    start = time.perf_counter()
    alpha = matte.alpha
    width, height = image.size
    bbox = subject_bbox(alpha)
    shadow = _shadow_spec(options, bbox)
    canvas = _canvas_box(options, bbox, shadow, (width, height))
    out_size, scale = _output_size(canvas, options.max_side)

    if _is_plain_full_png(options, canvas, out_size, (width, height)):
        # The most common request (and the benchmark's): a full-size transparent PNG. Straight from
        # arrays to our PNG writer, with no intermediate PIL images or copies.
        rgba = cutout_rgba(image.rgb, alpha, reduced=image.reduced(STAT_SIDE))
        _lap(timings, "layout", start)
        timings["compose"] = 0.0
        start = time.perf_counter()
        data = enc.png_bytes(rgba)
        _lap(timings, "encode", start)
        out_bbox = bbox
    else:
        data, out_bbox = _render_general(
            image, alpha, options, canvas, out_size, scale, shadow, bbox, timings
        )
    return Result(
        data=data,
        content_type=enc.CONTENT_TYPES[options.format],
        extension=enc.EXTENSIONS[options.format],
        width=out_size[0],
        height=out_size[1],
        metadata={
            **_metadata(image, matte, options, out_size, out_bbox, timings),
            "canvas": dict(zip(("left", "top", "width", "height"), _xywh(canvas), strict=True)),
        },
    )


def _shadow_spec(options: Options, bbox: Box | None) -> ShadowSpec | None:
    """The shadow in full-resolution pixels, for ``shadow`` mode with a subject; else None."""
    if options.mode != "shadow" or bbox is None:
        return None
    blur, off_x, off_y = options.shadow_lengths()
    subject_h = bbox[3] - bbox[1]
    return ShadowSpec(
        options.shadow_opacity,
        blur.resolve(subject_h),
        off_x.resolve(subject_h),
        off_y.resolve(subject_h),
    )


def _is_plain_full_png(
    options: Options, canvas: Box, out_size: tuple[int, int], size: tuple[int, int]
) -> bool:
    plain_cutout = (
        options.mode == "transparent" and options.color is None and options.format != "zip"
    )
    return (
        plain_cutout
        and options.format == "png"
        and options.output_channels == "rgba"
        and canvas == (0, 0, *size)
        and out_size == size
    )


def _xywh(box: Box) -> tuple[int, int, int, int]:
    return box[0], box[1], box[2] - box[0], box[3] - box[1]


def _metadata(
    image: DecodedImage,
    matte: Matte,
    options: Options,
    out_size: tuple[int, int],
    out_bbox: Box | None,
    timings: dict[str, float],
) -> dict[str, Any]:
    """The result's metadata (see the engine README for each key)."""
    return {
        "width": out_size[0],
        "height": out_size[1],
        "original_width": image.width,
        "original_height": image.height,
        "bbox": None
        if out_bbox is None
        else {
            "left": out_bbox[0],
            "top": out_bbox[1],
            "width": out_bbox[2] - out_bbox[0],
            "height": out_bbox[3] - out_bbox[1],
        },
        "foreground_coverage": round(matte.coverage, 4),
        "confidence": matte.confidence,
        "pipeline": matte.pipeline,
        "models": list(matte.models),
        "mode": options.mode,
        "crop": options.crop,
        "format": options.format,
        "channels": options.output_channels,
        "timings_ms": {**matte.timings, **timings},
    }


def _render_general(
    image: DecodedImage,
    alpha: np.ndarray,
    options: Options,
    canvas: Box,
    out_size: tuple[int, int],
    scale: float,
    shadow: ShadowSpec | None,
    bbox: Box | None,
    timings: dict[str, float],
) -> tuple[bytes, Box | None]:
    start = time.perf_counter()
    width, height = image.size
    plain_cutout = (
        options.mode == "transparent" and options.color is None and options.format != "zip"
    )
    # Crop to the part of the image the canvas covers, decontaminate there, pad if it is larger.
    region = (max(0, canvas[0]), max(0, canvas[1]), min(width, canvas[2]), min(height, canvas[3]))
    a_region = alpha[region[1] : region[3], region[0] : region[2]]
    if options.mode != "mask":
        rgb_region = image.rgb[region[1] : region[3], region[0] : region[2]]
        layer = Image.fromarray(cutout_rgba(rgb_region, a_region, zero_hidden=plain_cutout), "RGBA")
    else:
        layer = Image.fromarray(np.ascontiguousarray(a_region), "L")
    if region != canvas:
        layer = layer.crop(
            (
                canvas[0] - region[0],
                canvas[1] - region[1],
                canvas[2] - region[0],
                canvas[3] - region[1],
            )
        )
    if layer.size != out_size:
        layer = layer.resize(out_size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    _lap(timings, "layout", start)

    start = time.perf_counter()
    picture = _compose(layer, options, shadow, scale, canvas, bbox)
    out_bbox = subject_bbox(np.asarray(layer.getchannel("A") if layer.mode == "RGBA" else layer))
    _lap(timings, "compose", start)

    start = time.perf_counter()
    if options.format == "zip":
        rgb_picture = picture.convert("RGB") if picture.mode != "RGB" else picture
        alpha_picture = (
            picture.getchannel("A") if picture.mode == "RGBA" else Image.new("L", picture.size, 255)
        )
        data = enc.encode_zip(rgb_picture, alpha_picture)
    else:
        data = enc.encode(_to_channels(picture, options), options.format)
    _lap(timings, "encode", start)
    return data, out_bbox


def _lap(timings: dict[str, float], stage: str, start: float) -> None:
    timings[stage] = round((time.perf_counter() - start) * 1000.0, 2)


def _canvas_box(
    options: Options, bbox: Box | None, shadow: ShadowSpec | None, size: tuple[int, int]
) -> Box:
    width, height = size
    if not options.crop or bbox is None:
        return (0, 0, width, height)
    box = shadow.extent(bbox) if shadow else bbox
    sub_w, sub_h = bbox[2] - bbox[0], bbox[3] - bbox[1]
    top, right, bottom, left = (
        m.resolve(sub_h if i % 2 == 0 else sub_w) for i, m in enumerate(options.margin)
    )
    box = (
        round(box[0] - left),
        round(box[1] - top),
        round(box[2] + right),
        round(box[3] + bottom),
    )
    if not shadow and not any(m.value for m in options.margin):
        return box
    # Margins and shadows may reach past the image; allow that, within reason (2x the image).
    return (
        max(box[0], -width),
        max(box[1], -height),
        min(box[2], 2 * width),
        min(box[3], 2 * height),
    )


def _output_size(canvas: Box, max_side: int) -> tuple[tuple[int, int], float]:
    cw, ch = canvas[2] - canvas[0], canvas[3] - canvas[1]
    if not max_side or max(cw, ch) <= max_side:
        return (cw, ch), 1.0
    scale = max_side / max(cw, ch)
    return (max(1, round(cw * scale)), max(1, round(ch * scale))), scale


def _compose(
    layer: Image.Image,
    options: Options,
    shadow: ShadowSpec | None,
    scale: float,
    canvas: Box,
    bbox: Box | None,
) -> Image.Image:
    """The mode's picture: L (mask mode), or RGBA/RGB with background and shadow under the subject."""
    if options.mode == "mask":
        return layer
    colour = options.color
    if options.mode == "background" and colour is None:
        colour = WHITE
    if colour is None and shadow is None:
        return layer  # the cutout itself (hidden colour already zeroed unless it goes into a zip)
    picture = Image.new("RGBA", layer.size, colour or (0, 0, 0, 0))
    if shadow is not None and bbox is not None:
        picture = Image.alpha_composite(picture, _shadow_layer(layer, shadow, scale, canvas, bbox))
    picture = Image.alpha_composite(picture, layer)
    if picture.getchannel("A").getextrema()[0] == 255:
        return picture.convert("RGB")
    return picture


def _shadow_layer(
    layer: Image.Image, shadow: ShadowSpec, scale: float, canvas: Box, bbox: Box
) -> Image.Image:
    """Black RGBA layer: a squashed contact shadow at the base plus a soft offset drop shadow."""
    alpha = layer.getchannel("A")
    size = layer.size
    left, top = round((bbox[0] - canvas[0]) * scale), round((bbox[1] - canvas[1]) * scale)
    right, bottom = round((bbox[2] - canvas[0]) * scale), round((bbox[3] - canvas[1]) * scale)
    sub_h = max(1, bottom - top)
    blur = max(0.0, shadow.blur * scale)

    drop = Image.new("L", size, 0)
    drop.paste(alpha, (round(shadow.dx * scale), round(shadow.dy * scale)))
    if blur >= 0.5:
        drop = drop.filter(ImageFilter.GaussianBlur(blur / 2.0))

    contact = Image.new("L", size, 0)
    contact_h = max(2, round(CONTACT_HEIGHT * sub_h))
    footprint = alpha.crop((left, top, right, bottom)).resize(
        (max(1, right - left), contact_h), Image.Resampling.BILINEAR
    )
    contact.paste(footprint, (left, bottom - contact_h // 2))
    contact = contact.filter(ImageFilter.GaussianBlur(max(1.0, contact_h / 2.0)))

    d = np.asarray(drop, dtype=np.float32) * (shadow.opacity * DROP_SHADOW_STRENGTH / 255.0)
    c = np.asarray(contact, dtype=np.float32) * (shadow.opacity / 255.0)
    combined = 1.0 - (1.0 - d) * (1.0 - c)
    out = np.zeros((size[1], size[0], 4), dtype=np.uint8)
    out[..., 3] = np.clip(combined * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(out, "RGBA")


def _to_channels(picture: Image.Image, options: Options) -> Image.Image:
    channels = options.output_channels
    if channels == "alpha":
        if picture.mode == "RGBA":
            return picture.getchannel("A")
        return picture if picture.mode == "L" else Image.new("L", picture.size, 255)
    if picture.mode == "L":  # mask mode as rgb: a greyscale picture in three channels
        return picture.convert("RGB") if channels == "rgb" else picture
    if channels == "rgb":
        if picture.mode == "RGB":
            return picture
        colour = options.color if options.color is not None else WHITE
        flat = Image.new("RGBA", picture.size, (*colour[:3], 255))
        return Image.alpha_composite(flat, picture).convert("RGB")
    return picture if picture.mode == "RGBA" else picture.convert("RGBA")
