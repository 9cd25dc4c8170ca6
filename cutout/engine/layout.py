"""Where things go on the output: the subject's box, the canvas, the output size, the shadow's
extent and the subject's placement (``scale``/``position``). Geometry only: boxes and factors.

Coordinates are pixels of the original image unless a name says ``out`` (output pixels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .options import Options

SUBJECT_THRESHOLD = 10  # alpha above this (of 255) counts as subject for boxes and crops
CONTACT_HEIGHT = 0.05  # contact shadow: the silhouette squashed to this fraction of subject height

Box = tuple[int, int, int, int]  # left, top, right, bottom (exclusive), may extend past the image


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
    kind: str  # natural, drop or contact (see cutout.engine.names.SHADOW_TYPES)
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


def shadow_spec(options: Options, bbox: Box | None) -> ShadowSpec | None:
    """The shadow in full-resolution pixels, for ``shadow`` mode with a subject; else None."""
    if options.mode != "shadow" or bbox is None:
        return None
    blur, off_x, off_y = options.shadow_lengths()
    subject_h = bbox[3] - bbox[1]
    return ShadowSpec(
        options.shadow_type,
        options.shadow_opacity,
        blur.resolve(subject_h),
        off_x.resolve(subject_h),
        off_y.resolve(subject_h),
    )


def canvas_box(
    options: Options, bbox: Box | None, shadow: ShadowSpec | None, size: tuple[int, int]
) -> Box:
    """The part of the (extended) image the output shows: all of it, or the crop."""
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


def output_size(canvas: Box, options: Options) -> tuple[tuple[int, int], float]:
    """The output's size and its scale from canvas pixels: a longest side or a pixel budget,
    never larger than the canvas."""
    cw, ch = canvas[2] - canvas[0], canvas[3] - canvas[1]
    budget = options.max_pixels
    if budget:
        if cw * ch <= budget:
            return (cw, ch), 1.0
        scale = math.sqrt(budget / (cw * ch))
        return (max(1, math.floor(cw * scale)), max(1, math.floor(ch * scale))), scale
    max_side = options.max_side
    if not max_side or max(cw, ch) <= max_side:
        return (cw, ch), 1.0
    scale = max_side / max(cw, ch)
    return (max(1, round(cw * scale)), max(1, round(ch * scale))), scale


@dataclass(frozen=True)
class Placement:
    """The subject moved or resized on the canvas: its new box in output pixels and its size
    factor from the original (canvas scale times the subject's own ``scale``)."""

    box_out: Box
    factor: float


def placement(options: Options, bbox: Box | None, canvas: Box, scale: float) -> Placement | None:
    """Where ``scale``/``position`` put the subject; None when both are ``original``."""
    subject_scale, position = options.placement()
    if bbox is None or (subject_scale is None and position is None):
        return None
    cw, ch = canvas[2] - canvas[0], canvas[3] - canvas[1]
    bw, bh = bbox[2] - bbox[0], bbox[3] - bbox[1]
    k = 1.0 if subject_scale is None else subject_scale / max(bw / cw, bh / ch)
    new_w, new_h = bw * k, bh * k
    if position is None:
        left, top = float(bbox[0] - canvas[0]), float(bbox[1] - canvas[1])
    else:
        left, top = position[0] * (cw - new_w), position[1] * (ch - new_h)
    factor = k * scale
    out_left, out_top = round(left * scale), round(top * scale)
    box = (
        out_left,
        out_top,
        out_left + max(1, round(bw * factor)),
        out_top + max(1, round(bh * factor)),
    )
    return Placement(box, factor)
