"""Calibration for the int8 build: project-made scenes, the tensors' ranges over them.

No downloads and no dataset: :func:`calibration_scene` draws seeded photo-like scenes, fed through
the engine's own preprocessing (:func:`cutout.engine.inference.model_input`). For every tensor
that gets quantised the range kept is the recipe's percentile over the images, not the extreme:
ISNet's decoder makes rare spikes (a few hundred times the usual level, in image corners) that
would otherwise stretch the int8 grid until ordinary values vanish in one step.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..decode import DecodedImage
from ..derived import Recipe
from ..inference import model_input
from ..registry import ModelSpec


def calibration_scene(seed: int, side: int = 640) -> Image.Image:
    """A deterministic photo-like scene: a shaded, textured subject on one of three backgrounds
    (studio gradient, cluttered texture, sky over ground), with soft edges, thin strands and noise.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    kind = seed % 3
    if kind == 0:
        top, bottom = rng.random(3), rng.random(3)
        t = (yy * rng.uniform(0.3, 1.0) + xx * rng.uniform(0.0, 0.4))[..., None]
        bg = 0.6 + 0.4 * (top * (1 - t) + bottom * t)
    elif kind == 1:
        bg = 0.5 * _noise(rng, side, 6) + 0.3 * _noise(rng, side, 40) + 0.2 * _noise(rng, side, 160)
        freq = rng.uniform(8, 40)
        bg = bg * (0.8 + 0.2 * np.sin(2 * np.pi * freq * (xx + 0.3 * yy)))[..., None]
    else:
        horizon = rng.uniform(0.3, 0.7)
        sky = np.array([0.45, 0.65, 0.95]) * (1 - 0.4 * yy[..., None])
        ground_colour = np.array([[0.3, 0.5, 0.2], [0.55, 0.45, 0.3], [0.4, 0.4, 0.42]])[
            rng.integers(3)
        ]
        ground = ground_colour * (0.6 + 0.6 * _noise(rng, side, 60))
        bg = np.where(yy[..., None] < horizon, sky, ground)
    bg = np.clip(bg, 0.0, 1.0)
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    cx, cy = rng.uniform(0.35, 0.65) * side, rng.uniform(0.4, 0.65) * side
    rx, ry = rng.uniform(0.12, 0.28) * side, rng.uniform(0.15, 0.32) * side
    draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    draw.ellipse([cx - rx * 0.5, cy - ry * 1.6, cx + rx * 0.5, cy - ry * 0.6], fill=255)
    for _ in range(int(rng.integers(2, 6))):
        angle, length = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.4)
        end = (cx + np.cos(angle) * rx * length * 1.5, cy + np.sin(angle) * ry * length * 1.5)
        draw.line([(cx, cy), end], fill=255, width=int(rng.uniform(0.02, 0.07) * side))
    if rng.random() < 0.5:  # thin strands, like hair or fur
        for _ in range(60):
            angle = rng.uniform(-np.pi, 0)
            x0, y0 = cx + np.cos(angle) * rx * 0.4, cy - ry * 1.1
            end = (x0 + np.cos(angle) * ry * 0.45, y0 + np.sin(angle) * ry * 0.45)
            draw.line([(x0, y0), end], fill=255, width=1)
    blurred = mask.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    alpha = np.asarray(blurred, dtype=np.float32)[..., None] / 255.0
    texture = _noise(rng, side, int(rng.integers(8, 80)))
    dist = np.hypot((xx * side - cx + rx * 0.4) / (2 * rx), (yy * side - cy + ry * 0.4) / (2 * ry))
    shade = np.clip(1.1 - 0.8 * dist, 0.15, 1.0)[..., None]
    fg = np.clip((0.55 * rng.random(3) + 0.45 * texture) * shade, 0.0, 1.0)
    img = fg * alpha + bg * (1 - alpha) + rng.normal(0.0, 0.015, (side, side, 3))
    return Image.fromarray((np.clip(img, 0.0, 1.0) * 255 + 0.5).astype(np.uint8), "RGB")


def _noise(rng: np.random.Generator, side: int, cells: int) -> np.ndarray:
    small = (rng.random((cells, cells, 3)) * 255).astype(np.uint8)
    big = Image.fromarray(small, "RGB").resize((side, side), Image.Resampling.BICUBIC)
    return np.asarray(big, dtype=np.float32) / 255.0


def calibration_inputs(spec: ModelSpec, recipe: Recipe) -> list[np.ndarray]:
    """The network inputs for the calibration scenes, through the engine's own preprocessing."""
    inputs = []
    for seed in range(recipe.calibration_images):
        buffer = io.BytesIO()  # through PNG bytes, exactly as an upload would arrive
        calibration_scene(seed, recipe.calibration_side).save(buffer, "PNG")
        buffer.seek(0)
        with Image.open(buffer) as image:
            inputs.append(model_input(DecodedImage.from_pil(image.convert("RGB")), spec.name))
    return inputs


# Calibration reads intermediate tensors from extra graph outputs, a slice at a time so that
# ISNet's (up to 64 x 512 x 512 floats each) never all sit in memory together.
_SLICE_ELEMENTS = 160_000_000


def calibrate(model: Any, spec: ModelSpec, recipe: Recipe) -> dict[str, tuple[float, float]]:
    """Per-tensor (low, high) for every tensor that quantisation will see."""
    import onnxruntime as ort

    input_name = model.graph.input[0].name
    tensors, slices = _calibration_tensors(model, recipe)
    inputs = calibration_inputs(spec, recipe)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2  # fixed: thread splits can change float rounding
    low: dict[str, float] = {}
    high: dict[str, float] = {}
    for names in slices:
        session = ort.InferenceSession(
            _probe(model, names, input_name), options, providers=["CPUExecutionProvider"]
        )
        wanted = [name for name in names if name != input_name]
        for tensor in inputs:
            values = dict(zip(wanted, session.run(wanted, {input_name: tensor}), strict=True))
            values[input_name] = tensor
            for name in names:
                if values[name].size == 0:
                    continue
                lo, hi = _percentile_range(values[name], recipe.percentile)
                low[name] = min(low.get(name, lo), lo)
                high[name] = max(high.get(name, hi), hi)
        del session
    # Rounded to 5 significant digits: the same ranges (and so the same file) on any x86 CPU,
    # whatever its float kernels' last-bit differences.
    return {
        name: (_round_sig(low[name]), _round_sig(high[name])) for name in tensors if name in low
    }


def _calibration_tensors(model: Any, recipe: Recipe) -> tuple[list[str], list[list[str]]]:
    """The float activations the recipe's ops read or write, and them cut into slices of at most
    :data:`_SLICE_ELEMENTS` values (one probe session each)."""
    from onnx import TensorProto, shape_inference

    graph = shape_inference.infer_shapes(model).graph
    shapes = {
        info.name: [d.dim_value for d in info.type.tensor_type.shape.dim]
        for info in [*graph.value_info, *graph.input, *graph.output]
        if info.type.tensor_type.elem_type == TensorProto.FLOAT  # not Resize's int64 shape maths
    }
    # Weights, and constants such as Resize's empty roi/scales, are not activations.
    initializers = {init.name for init in graph.initializer}
    initializers.update(node.output[0] for node in graph.node if node.op_type == "Constant")
    tensors: list[str] = []
    for node in graph.node:
        if node.op_type in recipe.op_types:
            for name in [*node.input, *node.output]:
                if name and name not in initializers and name in shapes and name not in tensors:
                    tensors.append(name)
    slices: list[list[str]] = [[]]
    budget = 0
    for name in tensors:
        size = int(np.prod(shapes[name])) or 1
        if slices[-1] and budget + size > _SLICE_ELEMENTS:
            slices.append([])
            budget = 0
        slices[-1].append(name)
        budget += size
    return tensors, slices


def _probe(model: Any, names: list[str], input_name: str) -> bytes:
    """``model`` with ``names`` added as graph outputs, serialised for a session."""
    import onnx
    from onnx import TensorProto, helper

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    present = {out.name for out in probe.graph.output}
    probe.graph.output.extend(
        helper.make_tensor_value_info(name, TensorProto.FLOAT, None)
        for name in names
        if name not in present and name != input_name
    )
    return bytes(probe.SerializeToString())


def _percentile_range(values: np.ndarray, percentile: float) -> tuple[float, float]:
    """(low, high) percentiles of ``values``, each widened to include 0 (as quantisation does)."""
    flat = np.ravel(values)
    n = flat.size
    k = min(n - 1, max(0, round((n - 1) * percentile / 100.0)))
    top = _kth_largest(flat, n - k)
    # Most quantised tensors follow a Relu: skip the lower tail when nothing is negative.
    bottom = 0.0 if float(flat.min()) >= 0.0 else -_kth_largest(-flat, n - k)
    return min(bottom, 0.0), max(top, 0.0)


def _kth_largest(flat: np.ndarray, m: int) -> float:
    """The m-th largest value of ``flat`` (exact), for small m: a threshold from a strided sample
    cuts the candidates to a few times m before the partition, ~20x faster than partitioning it all.
    """
    n = flat.size
    stride = max(1, n // 65536)
    if stride > 1:
        sample = flat[::stride]
        margin = 4 * (m // stride + 1) + 16
        if margin < sample.size:
            j = sample.size - margin
            threshold = np.partition(sample, j)[j]
            candidates = flat[flat >= threshold]
            if candidates.size >= m:
                return float(np.partition(candidates, candidates.size - m)[candidates.size - m])
    return float(np.partition(flat, n - m)[n - m])


def _round_sig(value: float, digits: int = 5) -> float:
    return float(f"{value:.{digits - 1}e}")
