"""Guided cutouts: image + the models' stored evidence + hints -> a corrected matte.

:func:`refine_with_hints` is a pure function of the image, the pipeline, the automatic matte it
corrects (``base``) and the hints (:mod:`.hints`); the prior (:mod:`.prior`) only saves model
runs. The same inputs give the same bytes. Each call takes the complete hint list.

The algorithm (measured on the dev set with ``../shared/evalsets/guided.py``'s protocol; the
figures and the approaches that lost are in docs/quality.md):

1. **Box.** The pipeline's models run again on the box crop (a salient-object model finds "the"
   subject of the crop it is given). Inside the box three evidence maps compete: the mean of the
   crop's and the full image's log-odds, the crop's alone and their maximum; each is decided with
   the fusion's own clean-up (specks dropped, unsure holes filled) and the one whose subject's
   bounding box best matches the box inset by ``box_inset`` (8%) a side wins, ties to the mean
   (people draw a box around the whole subject with a little room). Everything outside the box
   is background, a hard constraint.
2. **Clicks**, in order, on a working copy about 320 px long. Each shifts the unary (the
   log-odds, signed by the current decision) by ``s * (|u(click)| + margin) * exp(-D(p))``, where
   ``D`` is a geodesic distance from the click over the lightly smoothed image, whose step costs
   ``1 / (kappa * r)`` plus ``gcol / kappa`` per unit of colour change, ``r`` being the click's
   distance to the nearest pixel of the other label. A click deep inside a wrong region flips a
   large area, one on a thin sliver a small one, and colour edges slow the spread; pixels the
   models were surer of than the clicked one flip less. A disk around each click is fixed. A
   remove click on a foreground island that is not the largest (and holds no keep click) removes
   the whole island: a second object, not a part of the subject.
3. **One graph cut** (contrast-sensitive Potts, :func:`.graphcut.graph_cut`) on the shifted unary;
   the area that changed is pasted back at full size; every other pixel keeps the automatic matte
   exactly (its soft edges included).
4. **Strokes** are painted last, in order, exactly: every pixel within the radius of the polyline
   becomes 255 (keep) or 0 (remove).

Images longer than :data:`DECISION_SIDE` are decided on a reduced copy; the change is then
upsampled onto the full-size automatic matte (strokes and the box stay exact at full size).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from . import fusion
from .decode import DecodedImage
from .errors import InvalidOption
from .graphcut import disk, geodesic, graph_cut, grid_edges, stroke_mask
from .hints import Hint, parse_hints
from .matte import Matte, matte_confidence
from .pipelines import get_pipeline
from .prior import Prior, crop_unary, ensure_models, unary
from .refine import to_uint8, tone_curve

DECISION_SIDE = 2048  # longer images are decided on a reduced copy
_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class Params:
    work_side: int = 320  # long side of the clicks' working copy (geodesics, graph cut)
    kappa: float = 4.0  # spatial reach of a click, in multiples of its distance to the boundary
    gcol: float = 0.2  # geodesic cost of colour change (RGB 0..1, Euclidean) per step
    margin: float = 2.0  # a click's pixel ends this many nats on its side
    delta: float = 0.5  # the automatic decision is kept with at least this many nats
    clip: float = 12.0  # |log-odds| cap
    lam: float = 1.0  # graph-cut pairwise weight (contrast-sensitive Potts)
    seed_radius: int = 2  # fixed disk around each click (working-copy px)
    smooth: float = 1.0  # Gaussian sigma of the image the geodesic reads (working-copy px)
    rim: int = 2  # soft rim kept around a changed edge (px), as fusion.commit
    remove_components: bool = True  # a remove click on a secondary island removes all of it
    guard: float = 0.0  # a click may flip at most this many times pi r^2 (0: no limit)
    box_inset: float = 0.08  # > 0: the box's evidence map whose subject spans the box inset so


DEFAULT_PARAMS = Params()


@dataclass(frozen=True, eq=False)
class Refined:
    """The refined matte, and the prior (grown when a model or a box crop had to run)."""

    matte: Matte
    prior: Prior | None
    prior_changed: bool


# ---------------------------------------------------------------------------------------------
# Resizing helpers (float maps, Pillow)


def _resize(values: np.ndarray, size: tuple[int, int], method: Image.Resampling) -> np.ndarray:
    if values.shape[1] == size[0] and values.shape[0] == size[1]:
        return values.astype(np.float32, copy=False)
    image = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32), "F")
    return np.asarray(image.resize(size, method), dtype=np.float32)


def _down(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if values.ndim == 2:
        return _resize(values, size, Image.Resampling.BOX)
    return np.stack([_down(values[..., i], size) for i in range(values.shape[-1])], -1)


def _up(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return _resize(values, size, Image.Resampling.BILINEAR)


# ---------------------------------------------------------------------------------------------
# The steps


def _bbox_iou(mask: np.ndarray, inner: tuple[float, float, float, float]) -> float:
    """IoU of ``mask``'s bounding box with ``inner`` (x0, y0, x1, y1), both in crop pixels."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return 0.0
    a = (float(xs.min()), float(ys.min()), float(xs.max()) + 1.0, float(ys.max()) + 1.0)
    iw = max(0.0, min(a[2], inner[2]) - max(a[0], inner[0]))
    ih = max(0.0, min(a[3], inner[3]) - max(a[1], inner[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (inner[2] - inner[0]) * (inner[3] - inner[1])
    return iw * ih / max(union - iw * ih, 1e-9)


def _box_decision(
    z: np.ndarray, crop_z: np.ndarray, box: tuple[int, int, int, int], p: Params
) -> tuple[np.ndarray, np.ndarray]:
    """Step 1: the log-odds inside the box from the full image's and the crop's; the decision
    redone, inside only.

    With ``p.box_inset`` > 0 three evidence maps compete (the mean of the two, the crop's alone,
    their maximum) and the one whose subject's bounding box best matches the box inset by that
    fraction a side wins (ties go to the mean): a box is drawn around the whole subject with a
    little room, so the decision that spans it is the likelier one."""
    x0, y0, x1, y1 = box
    full = z[y0:y1, x0:x1]
    maps = [0.5 * (full + crop_z)]
    if p.box_inset > 0:
        maps += [crop_z, np.maximum(full, crop_z)]
    h, w = full.shape
    inner = (p.box_inset * w, p.box_inset * h, w - p.box_inset * w, h - p.box_inset * h)
    inside = np.zeros(z.shape, bool)
    inside[y0:y1, x0:x1] = True
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for values in maps:
        candidate = z.copy()
        candidate[y0:y1, x0:x1] = values
        decision = fusion.fill_holes(fusion.drop_specks(candidate > 0.0), candidate) & inside
        score = _bbox_iou(decision[y0:y1, x0:x1], inner) if len(maps) > 1 else 0.0
        if best is None or score > best[0]:
            best = (score, candidate, decision)
    assert best is not None
    return best[1], best[2]


@dataclass
class _Work:
    """The clicks' working copy: unary, colour, features and the fixed pixels."""

    u: np.ndarray
    rgb: np.ndarray
    feature: np.ndarray
    edges: tuple[np.ndarray, np.ndarray]
    fg: np.ndarray
    bg: np.ndarray
    scale: float


def _work_copy(
    rgb: np.ndarray, u_full: np.ndarray, decision: np.ndarray, box: Any, p: Params
) -> tuple[_Work, np.ndarray]:
    height, width = decision.shape
    scale = min(1.0, p.work_side / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small_rgb = _down(rgb.astype(np.float32), size)
    m0 = _down(decision.astype(np.float32), size) > 0.5
    w, h = size
    feature = ndimage.gaussian_filter(small_rgb / 255.0, (p.smooth, p.smooth, 0))
    fg = np.zeros((h, w), bool)
    bg = np.zeros((h, w), bool)
    if box is not None:
        bx0, by0, bx1, by1 = (v * scale for v in box)
        bg[:] = True
        bg[int(np.floor(by0)) : int(np.ceil(by1)), int(np.floor(bx0)) : int(np.ceil(bx1))] = False
        m0 &= ~bg
    u = _down(u_full, size).astype(np.float64)
    return _Work(u, small_rgb, feature, grid_edges(h, w), fg, bg, scale), m0


def _remove_island(work: _Work, m: np.ndarray, x: int, y: int, margin: float) -> None:
    """A remove click on a foreground island that is not the largest and holds no keep click."""
    labels, count = ndimage.label(m, structure=_EIGHT)
    if count <= 1:
        return
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    island = labels == labels[y, x]
    if sizes[labels[y, x]] < sizes.max() and not (island & work.fg).any():
        work.u = np.where(island, np.minimum(work.u, -margin), work.u)


def _click(work: _Work, m: np.ndarray, hint: Hint, p: Params) -> np.ndarray:
    """Step 2 for one click: shift the unary, fix its disk; the decision the next click reads."""
    h, w = m.shape
    s = 1.0 if hint.keep else -1.0
    x = min(w - 1, int((hint.x or 0) * work.scale))
    y = min(h - 1, int((hint.y or 0) * work.scale))
    other = m != m[y, x]
    r = float(max(h, w))
    if other.any():
        r = max(float(ndimage.distance_transform_edt(~other)[y, x]), 1.5)
    if p.remove_components and s < 0 and m[y, x]:
        _remove_island(work, m, x, y, p.margin)
    dist = geodesic(work.feature, y * w + x, 1.0 / (p.kappa * r), p.gcol / p.kappa, work.edges)
    amp = max(0.0, -s * float(work.u[y, x])) + p.margin
    shifted = work.u + s * amp * np.exp(-dist)
    if p.guard > 0:
        # Halving the reach doubles every geodesic distance (both step costs scale with 1/kappa).
        for _ in range(4):
            flipped = ((shifted > 0) != m) & (m == m[y, x])
            if np.count_nonzero(flipped) <= p.guard * np.pi * r * r:
                break
            dist = dist * 2.0
            shifted = work.u + s * amp * np.exp(-dist)
    work.u = shifted
    seed = disk((h, w), x, y, p.seed_radius)
    if s > 0:
        work.fg |= seed
        work.bg &= ~seed
    else:
        work.bg |= seed
        work.fg &= ~seed
    return ((work.u > 0) | work.fg) & ~work.bg


def _apply_clicks(
    rgb: np.ndarray,
    u_full: np.ndarray,
    decision: np.ndarray,
    clicks: list[Hint],
    box: Any,
    p: Params,
) -> np.ndarray:
    """Steps 2-3: the full-size decision after the clicks (only the changed area moves)."""
    work, m0 = _work_copy(rgb, u_full, decision, box, p)
    m = m0.copy()
    for hint in clicks:
        m = _click(work, m, hint, p)
    if p.lam > 0:
        m = graph_cut(work.u, work.rgb, p.lam, work.fg, work.bg)
    height, width = decision.shape
    changed = ndimage.binary_dilation(m != m0, iterations=1)
    changed_full = _up(changed.astype(np.float32), (width, height)) > 0.01
    new_full = _up(m.astype(np.float32), (width, height)) >= 0.5
    out = np.where(changed_full, new_full, decision)
    for hint in clicks:
        out[disk((height, width), hint.x or 0, hint.y or 0, 2)] = hint.keep
    return out


def _soft(z: np.ndarray, out: np.ndarray, rim: int) -> np.ndarray:
    """0/255 from ``out``, the log-odds' probability kept within ``rim`` px of its edge where it
    agrees (fusion.commit), then the engine's 0.10..0.90 tone curve."""
    z = np.where(out == (z > 0), z, np.where(out, 1.0, -1.0)).astype(np.float32)
    return to_uint8(tone_curve(fusion.commit(z, out, rim)))


def _decide(
    image: DecodedImage,
    hints: tuple[Hint, ...],
    base: np.ndarray,
    prior: Prior,
    pipeline: str,
    p: Params,
    model_dir: Path | None,
) -> tuple[np.ndarray, np.ndarray, Prior]:
    """Steps 1-3 at the image's size: (decision, soft alpha where it changed, prior)."""
    z = unary(prior.predictions, pipeline, image.size)
    clicks = [h for h in hints if h.is_click]
    box = next((h.box for h in hints if h.box is not None), None)
    decision = base >= 128
    if box is not None:
        crop_z, prior = crop_unary(prior, image, box, pipeline, model_dir=model_dir)
        z, decision = _box_decision(z, crop_z, box, p)
    if clicks:
        u_full = np.where(
            decision, np.clip(z, p.delta, p.clip), np.clip(z, -p.clip, -p.delta)
        ).astype(np.float32)
        decision = _apply_clicks(image.rgb, u_full, decision, clicks, box, p)
        if box is not None:
            x0, y0, x1, y1 = box
            inside = np.zeros(decision.shape, bool)
            inside[y0:y1, x0:x1] = True
            decision &= inside
    return decision, _soft(z, decision, p.rim), prior


# ---------------------------------------------------------------------------------------------
# Large images: decide on a reduced copy


def _reduced_problem(
    image: DecodedImage, hints: tuple[Hint, ...], base: np.ndarray
) -> tuple[DecodedImage, tuple[Hint, ...], np.ndarray]:
    width, height = image.size
    scale = DECISION_SIDE / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = DecodedImage.from_pil(image.image.resize(size, Image.Resampling.BOX), "PIL")
    small_base = np.asarray(Image.fromarray(base, "L").resize(size, Image.Resampling.BILINEAR))
    scaled: list[Hint] = []
    for hint in hints:
        if hint.box is not None:
            x0, y0, x1, y1 = hint.box
            box = (
                int(x0 * scale),
                int(y0 * scale),
                max(int(x0 * scale) + 1, min(size[0], int(np.ceil(x1 * scale)))),
                max(int(y0 * scale) + 1, min(size[1], int(np.ceil(y1 * scale)))),
            )
            scaled.append(replace(hint, box=box))
        elif hint.is_click:
            x = min(size[0] - 1, int((hint.x or 0) * scale))
            y = min(size[1] - 1, int((hint.y or 0) * scale))
            scaled.append(replace(hint, x=x, y=y))
    return small, tuple(scaled), small_base


def _compose(decision: np.ndarray, soft: np.ndarray, base: np.ndarray, rim: int) -> np.ndarray:
    """The automatic matte, with ``soft`` wherever the decision changed (and its rim)."""
    changed = decision != (base >= 128)
    if not changed.any():
        return base.copy()
    band = ndimage.maximum_filter(changed.view(np.uint8), size=2 * rim + 3).view(bool)
    if band.shape != base.shape:
        size = (base.shape[1], base.shape[0])
        band = _up(band.astype(np.float32), size) > 0.01
        soft = np.asarray(Image.fromarray(soft, "L").resize(size, Image.Resampling.BILINEAR))
    return np.where(band, soft, base)


# ---------------------------------------------------------------------------------------------
# The function


def _as_hints(hints: Any, image: DecodedImage) -> tuple[Hint, ...]:
    if isinstance(hints, Sequence) and all(isinstance(h, Hint) for h in hints):
        return tuple(hints)
    return parse_hints(hints, width=image.width, height=image.height)


def refine_with_hints(
    image: DecodedImage,
    hints: Sequence[Hint] | Any,
    *,
    pipeline: str,
    base: Matte | np.ndarray,
    prior: Prior | None = None,
    model_dir: Path | None = None,
    params: Params = DEFAULT_PARAMS,
) -> Refined:
    """The matte of ``image`` that ``hints`` ask for, correcting the automatic ``base`` matte.

    ``hints``: :class:`Hint` objects or a caller's raw list (checked: :class:`InvalidOption`,
    field ``hints``). ``prior``: the stored model outputs; missing models (or a new box's crop)
    run now and come back in :attr:`Refined.prior`. No hints: the automatic matte itself.
    """
    started = time.perf_counter()
    parsed = _as_hints(hints, image)
    base_alpha = base.alpha if isinstance(base, Matte) else np.asarray(base, np.uint8)
    if base_alpha.shape != (image.height, image.width):
        raise InvalidOption("the stored matte does not match the image's size.", field="hints")
    spec = get_pipeline(pipeline)
    alpha = base_alpha.copy()
    grown, changed_prior = prior, False
    if any(h.is_click or h.box is not None for h in parsed):
        grown = ensure_models(prior, image, spec.name, model_dir=model_dir)
        problem = (image, parsed, base_alpha)
        if max(image.size) > DECISION_SIDE:
            problem = _reduced_problem(image, parsed, base_alpha)
        decision, soft, grown = _decide(*problem, grown, spec.name, params, model_dir)
        alpha = _compose(decision, soft, base_alpha, params.rim)
        changed_prior = grown is not prior
        box = next((h.box for h in parsed if h.box is not None), None)
        if box is not None:
            x0, y0, x1, y1 = box
            outside = np.ones(alpha.shape, bool)
            outside[y0:y1, x0:x1] = False
            alpha[outside] = 0
        if image.alpha is not None:  # the source's own transparency stays transparent
            alpha = ((alpha.astype(np.uint16) * image.alpha + 127) // 255).astype(np.uint8)
    for hint in parsed:  # strokes: honoured exactly, in order, the last word
        if hint.points is not None:
            mask = stroke_mask(alpha.shape, hint.points, float(hint.radius or 0.0))
            alpha[mask] = 255 if hint.keep else 0
    timings = {"guided": round((time.perf_counter() - started) * 1000, 2)}
    matte = Matte(alpha, matte_confidence(alpha), spec.name, spec.models, timings)
    return Refined(matte=matte, prior=grown, prior_changed=changed_prior)
