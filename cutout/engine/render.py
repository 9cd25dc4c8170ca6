"""From an image and its matte to the bytes the caller asked for.

Order of work, chosen so that small outputs are cheap: decide the canvas (whole image, or the
subject's box plus margin and shadow; see :mod:`.layout`), decontaminate edge colours inside it,
resize to the output size (or move and resize the subject alone, for ``scale``/``position``), then
compose the mode's layers (background colour, picture or blurred photo from :mod:`.backdrop`,
shadow, subject) at output resolution and encode. The matte is never recomputed, so one matte
serves any number of renders.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from . import encode as enc
from .backdrop import blurred_background, cover, flatten
from .decode import DecodedImage
from .errors import InvalidOption
from .foreground import STAT_SIDE, cutout_rgba
from .layout import (
    CONTACT_HEIGHT,
    Box,
    Placement,
    ShadowSpec,
    canvas_box,
    output_size,
    placement,
    shadow_spec,
    subject_bbox,
)
from .matte import Matte
from .options import Options
from .watermark import watermark

DROP_SHADOW_STRENGTH = 0.6  # natural shadow: the soft drop part is this much lighter than the base
WHITE = (255, 255, 255, 255)
HARD_EDGE = (96, 160)  # semitransparency=false: alpha below/above these becomes 0/255


@dataclass(frozen=True)
class Result:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    metadata: dict[str, Any] = field(default_factory=dict)


def render(
    image: DecodedImage,
    matte: Matte,
    options: Options,
    *,
    background: DecodedImage | None = None,
) -> Result:
    """Render ``options`` from an image and its matte (no model is run).

    ``background`` is the picture ``options.bg_image`` names (required with it, refused
    without it).
    """
    _check_inputs(image, matte, options, background)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    alpha = matte.alpha if options.semitransparency else harden_matte(matte.alpha)
    width, height = image.size
    bbox = subject_bbox(alpha)
    shadow = shadow_spec(options, bbox)
    canvas = canvas_box(options, bbox, shadow, (width, height))
    out_size, scale = output_size(canvas, options)
    placed = placement(options, bbox, canvas, scale)

    if placed is None and _is_plain_full_png(options, canvas, out_size, (width, height)):
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
        frame = _Frame(canvas, out_size, scale, bbox, shadow, placed)
        data, out_bbox = _render_general(image, alpha, options, frame, background, timings)
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


def _check_inputs(
    image: DecodedImage, matte: Matte, options: Options, background: DecodedImage | None
) -> None:
    if matte.size != image.size:
        raise InvalidOption(
            f"matte is {matte.width}x{matte.height} but the image is {image.width}x{image.height}",
            field="matte",
        )
    if options.bg_image is not None and background is None:
        raise InvalidOption(
            "bg_image names a background image, but none was given", field="bg_image"
        )
    if background is not None and options.bg_image is None:
        raise InvalidOption(
            "a background image was given, but bg_image does not name it", field="bg_image"
        )


def harden_matte(alpha: np.ndarray) -> np.ndarray:
    """``semitransparency=false``: alpha below 96 becomes 0, above 160 becomes 255, with a
    steep ramp between (about a pixel wide on a real edge, so edges stay anti-aliased)."""
    low, high = HARD_EDGE
    ramp = (alpha.astype(np.int32) - low) * 255 // (high - low)
    return np.clip(ramp, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class _Frame:
    """The geometry of one render (see :mod:`.layout`)."""

    canvas: Box
    out_size: tuple[int, int]
    scale: float  # output pixels per canvas pixel
    bbox: Box | None  # the subject in the original
    shadow: ShadowSpec | None
    placed: Placement | None


def _is_plain_full_png(
    options: Options, canvas: Box, out_size: tuple[int, int], size: tuple[int, int]
) -> bool:
    plain_cutout = (
        options.mode == "transparent"
        and options.color is None
        and options.bg_image is None
        and not options.has_bg_blur
        and options.format != "zip"
    )
    return (
        plain_cutout
        and not options.watermark
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
        "background": _background_kind(options),
        "timings_ms": {**matte.timings, **timings},
    }


def _background_kind(options: Options) -> str | None:
    if options.bg_image is not None:
        return "image"
    if options.has_bg_blur:
        return "blur"
    if options.color is not None or options.mode == "background":
        return "color"
    return None


def _render_general(
    image: DecodedImage,
    alpha: np.ndarray,
    options: Options,
    frame: _Frame,
    background: DecodedImage | None,
    timings: dict[str, float],
) -> tuple[bytes, Box | None]:
    start = time.perf_counter()
    plain_cutout = (
        options.mode == "transparent"
        and options.color is None
        and options.bg_image is None
        and not options.has_bg_blur
        and options.format != "zip"
    )
    if frame.placed is None:
        layer = _canvas_layer(image, alpha, options, frame, zero_hidden=plain_cutout)
    else:
        layer = _placed_layer(image, alpha, options, frame, zero_hidden=plain_cutout)
    _lap(timings, "layout", start)

    start = time.perf_counter()
    out_bbox = subject_bbox(np.asarray(layer.getchannel("A") if layer.mode == "RGBA" else layer))
    backdrop = _backdrop(image, alpha, options, frame, background)
    picture = _compose(layer, options, frame, out_bbox, backdrop)
    if options.watermark:
        picture = watermark(picture)
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


def _canvas_layer(
    image: DecodedImage, alpha: np.ndarray, options: Options, frame: _Frame, *, zero_hidden: bool
) -> Image.Image:
    """The subject where it is, on the canvas, at output size: crop to the part of the image the
    canvas covers, decontaminate there, pad if the canvas is larger, resize."""
    width, height = image.size
    canvas = frame.canvas
    region = (max(0, canvas[0]), max(0, canvas[1]), min(width, canvas[2]), min(height, canvas[3]))
    layer = _subject_pixels(image, alpha, options, region, zero_hidden=zero_hidden)
    if region != canvas:
        layer = layer.crop(
            (
                canvas[0] - region[0],
                canvas[1] - region[1],
                canvas[2] - region[0],
                canvas[3] - region[1],
            )
        )
    if layer.size != frame.out_size:
        layer = layer.resize(frame.out_size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    return layer


def _placed_layer(
    image: DecodedImage, alpha: np.ndarray, options: Options, frame: _Frame, *, zero_hidden: bool
) -> Image.Image:
    """The subject moved and resized by ``scale``/``position`` onto an empty canvas."""
    assert frame.bbox is not None and frame.placed is not None
    subject = _subject_pixels(image, alpha, options, frame.bbox, zero_hidden=zero_hidden)
    box = frame.placed.box_out
    size = (box[2] - box[0], box[3] - box[1])
    if subject.size != size:
        subject = subject.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    layer = Image.new(subject.mode, frame.out_size, 0)
    layer.paste(subject, (box[0], box[1]))
    return layer


def _subject_pixels(
    image: DecodedImage, alpha: np.ndarray, options: Options, region: Box, *, zero_hidden: bool
) -> Image.Image:
    """The decontaminated RGBA subject (or the L matte, in mask mode) inside ``region``."""
    a_region = alpha[region[1] : region[3], region[0] : region[2]]
    if options.mode == "mask":
        return Image.fromarray(np.ascontiguousarray(a_region), "L")
    rgb_region = image.rgb[region[1] : region[3], region[0] : region[2]]
    return Image.fromarray(cutout_rgba(rgb_region, a_region, zero_hidden=zero_hidden), "RGBA")


def _lap(timings: dict[str, float], stage: str, start: float) -> None:
    timings[stage] = round((time.perf_counter() - start) * 1000.0, 2)


def _backdrop(
    image: DecodedImage,
    alpha: np.ndarray,
    options: Options,
    frame: _Frame,
    background: DecodedImage | None,
) -> Image.Image | None:
    """The picture under the subject (the background image, or the blurred photo) at output
    size; None for a flat colour or none."""
    if options.mode == "mask":
        return None
    if background is not None:
        return cover(flatten(background.image), frame.out_size)
    if not options.has_bg_blur:
        return None
    width, height = image.size
    radius = options.bg_blur_radius(width, height)
    blurred = blurred_background(image.rgb, alpha, radius)
    left, top, right, bottom = frame.canvas
    pad_top, pad_left = max(0, -top), max(0, -left)
    pad = ((pad_top, max(0, bottom - height)), (pad_left, max(0, right - width)), (0, 0))
    if any(before or after for before, after in pad):
        blurred = np.pad(blurred, pad, mode="edge")  # a margin past the image repeats its edge
    blurred = blurred[top + pad_top : bottom + pad_top, left + pad_left : right + pad_left]
    picture = Image.fromarray(np.ascontiguousarray(blurred), "RGB")
    if picture.size != frame.out_size:
        picture = picture.resize(frame.out_size, Image.Resampling.BILINEAR)
    return picture


def _compose(
    layer: Image.Image,
    options: Options,
    frame: _Frame,
    out_bbox: Box | None,
    backdrop: Image.Image | None,
) -> Image.Image:
    """The mode's picture: L (mask mode), or RGBA/RGB with background and shadow under the subject."""
    if options.mode == "mask":
        return layer
    colour = options.color
    if options.mode == "background" and colour is None and backdrop is None:
        colour = WHITE
    shadow = frame.shadow
    if colour is None and shadow is None and backdrop is None:
        return layer  # the cutout itself (hidden colour already zeroed unless it goes into a zip)
    if backdrop is not None:
        picture = backdrop.convert("RGBA")
    else:
        picture = Image.new("RGBA", layer.size, colour or (0, 0, 0, 0))
    if shadow is not None and out_bbox is not None:
        factor = frame.placed.factor if frame.placed is not None else frame.scale
        picture = Image.alpha_composite(picture, _shadow_layer(layer, shadow, factor, out_bbox))
    picture = Image.alpha_composite(picture, layer)
    if picture.getchannel("A").getextrema()[0] == 255:
        return picture.convert("RGB")
    return picture


def _shadow_layer(layer: Image.Image, shadow: ShadowSpec, scale: float, box: Box) -> Image.Image:
    """Black RGBA layer under the subject whose box (output pixels) is ``box``: a squashed
    contact shadow at the base and/or a soft offset drop shadow, as ``shadow.kind`` says."""
    alpha = layer.getchannel("A")
    size = layer.size
    left, top, right, bottom = box
    sub_h = max(1, bottom - top)
    blur = max(0.0, shadow.blur * scale)
    combined: np.ndarray = np.zeros((size[1], size[0]), dtype=np.float32)

    if shadow.kind in ("natural", "drop"):
        drop = Image.new("L", size, 0)
        drop.paste(alpha, (round(shadow.dx * scale), round(shadow.dy * scale)))
        if blur >= 0.5:
            drop = drop.filter(ImageFilter.GaussianBlur(blur / 2.0))
        strength = DROP_SHADOW_STRENGTH if shadow.kind == "natural" else 1.0
        combined = np.asarray(drop, dtype=np.float32) * (shadow.opacity * strength / 255.0)

    if shadow.kind in ("natural", "contact"):
        contact = Image.new("L", size, 0)
        contact_h = max(2, round(CONTACT_HEIGHT * sub_h))
        footprint = alpha.crop((left, top, right, bottom)).resize(
            (max(1, right - left), contact_h), Image.Resampling.BILINEAR
        )
        contact.paste(footprint, (left, bottom - contact_h // 2))
        contact = contact.filter(ImageFilter.GaussianBlur(max(1.0, contact_h / 2.0)))
        c = np.asarray(contact, dtype=np.float32) * (shadow.opacity / 255.0)
        combined = 1.0 - (1.0 - combined) * (1.0 - c)

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
