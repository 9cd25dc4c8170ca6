"""Faster derived model files, built once at setup time from the verified source models.

``python manage.py fetch_models`` calls :func:`ensure_optimized` after the sources are installed (or
run ``python -m cutout.engine.optimize``). Nothing here runs while serving: the engine only *reads*
a derived file, through :func:`session_model`, and falls back to the source model (with one log
line saying why) when the derived file is missing, stale or damaged.

What a build does, for each model (see :data:`RECIPES`):

1. verify the source file's sha256 against the registry (:func:`cutout.engine.models.check_model`);
2. graph surgery with the ``onnx`` package: weights stored as float16 (the IMG.LY ISNet build) are
   widened to float32, so onnxruntime's CPU kernels run without a Cast around every layer; the
   graph is pruned to the one output the engine reads (U^2-Net's and ISNet's side outputs and their
   full-resolution upsampling go); the opset is raised to 13 for per-channel quantisation;
3. calibration on project-made images (:func:`calibration_scene`, seeded: no downloads, no
   dataset), fed through the engine's own preprocessing. For every tensor that gets quantised the
   range kept is the 99.99th percentile over the images, not the extreme: ISNet's decoder makes
   rare spikes (a few hundred times the usual level, in image corners) that would otherwise
   stretch the int8 grid until ordinary values vanish in one step;
4. static int8 quantisation, QDQ format, per-channel symmetric int8 weights and asymmetric uint8
   activations (onnxruntime fuses the pairs into ``QLinearConv`` kernels that use AVX-512 VNNI or
   AVX2). Convolutions whose output is a small difference of large terms (U^2-Net has one, where a
   folded batch-norm bias of ~1300 is cancelled by the weights) stay in float32: they are listed
   by weight name in the recipe;
5. the result is written atomically next to the source as ``<model>.int8.onnx`` with a manifest
   ``<model>.int8.json`` recording the source sha256, the optimiser version, the recipe, the
   calibration ranges' digest and the derived file's sha256 and size.

The build is deterministic: the same source, recipe and library versions give byte-identical
files (a test builds u2netp twice). The manifest, not a hard-coded hash, is what the engine checks:
the float ranges may differ in the last bits between CPUs, and the file is still the same recipe.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .models import MODELS, ModelSpec, check_model, file_sha256, resolve_model_dir

log = logging.getLogger("cutout.engine")

# Bump when the build changes what it writes: every derived file is then rebuilt by fetch_models
# and ignored (with a log line) by the engine until it is.
OPTIMIZER_VERSION = 3
DISABLE_ENV = "CUTOUT_OPTIMIZED_MODELS"  # "0" / "false" / "off": always load the source models


@dataclass(frozen=True)
class Recipe:
    """How one model's derived file is made."""

    model: str
    suffix: str = "int8"
    op_types: tuple[str, ...] = ("Conv", "Relu", "MaxPool", "Resize", "Concat", "Add")
    keep_float: tuple[str, ...] = ()  # weight initializer names of Convs that stay float32
    calibration_images: int = 6
    calibration_side: int = 640
    percentile: float = 99.99

    def as_dict(self) -> dict[str, Any]:
        """JSON-shaped (tuples as lists), so it compares equal to what a manifest file holds."""
        return dict(json.loads(json.dumps(asdict(self))))


_NO_ADD = ("Conv", "Relu", "MaxPool", "Resize", "Concat")
RECIPES: dict[str, Recipe] = {
    # Per-conv int8 sensitivity (output SNR with int8 weights and inputs, on calibration scenes):
    # every conv is above 20 dB except these, which are below 10 dB and stay float32. The U^2-Nets
    # keep a wider activation range (99.999th percentile over 12 scenes): with the 99.99th over 6,
    # dev-set IoU of u2net alone fell from 0.8344 (float) to 0.8250; with this, to 0.8295
    # (docs/performance.md).
    "u2netp": Recipe(
        "u2netp", op_types=_NO_ADD, keep_float=("2258",), calibration_images=12, percentile=99.999
    ),
    "u2net": Recipe(
        "u2net",
        op_types=_NO_ADD,
        keep_float=("2258", "2297"),
        calibration_images=12,
        percentile=99.999,
    ),
    "isnet": Recipe("isnet"),
}


@dataclass(frozen=True)
class BuildOutcome:
    name: str
    status: str  # "present", "built", "failed" or "skipped"
    path: Path
    message: str


class OptimizeError(Exception):
    """A derived model could not be built."""


# --------------------------------------------------------------------------------------------
# Paths, manifests and what the engine loads


def derived_path(name: str, model_dir: Path | str | None = None) -> Path:
    spec, recipe = MODELS[name], RECIPES[name]
    return resolve_model_dir(model_dir) / f"{Path(spec.file).stem}.{recipe.suffix}.onnx"


def manifest_path(name: str, model_dir: Path | str | None = None) -> Path:
    return derived_path(name, model_dir).with_suffix(".json")


def enabled(env: dict[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get(DISABLE_ENV, "1").strip().lower()
    return value not in ("0", "false", "no", "off")


def expected_manifest(spec: ModelSpec, recipe: Recipe) -> dict[str, Any]:
    """The manifest fields a derived file must carry to be used for ``spec`` today."""
    return {
        "optimizer_version": OPTIMIZER_VERSION,
        "source_file": spec.file,
        "source_sha256": spec.sha256,
        "recipe": recipe.as_dict(),
    }


def stale_reason(
    name: str, model_dir: Path | str | None = None, *, full_hash: bool = True
) -> str | None:
    """Why the derived file of ``name`` must not be used (None when it is good)."""
    if name not in RECIPES:
        return f"no optimised build is defined for {name!r}"
    path, manifest_file = derived_path(name, model_dir), manifest_path(name, model_dir)
    if not path.is_file() or not manifest_file.is_file():
        return f"{path.name} is not built"
    try:
        manifest = json.loads(manifest_file.read_text())
    except (OSError, ValueError) as exc:
        return f"{manifest_file.name} is unreadable ({exc})"
    if not isinstance(manifest, dict):
        return f"{manifest_file.name} is not a manifest"
    for key, value in expected_manifest(MODELS[name], RECIPES[name]).items():
        if manifest.get(key) != value:
            return f"{path.name} was built with a different {key.replace('_', ' ')}"
    if path.stat().st_size != manifest.get("size_bytes"):
        return f"{path.name} has the wrong size (damaged?)"
    if full_hash and file_sha256(path) != manifest.get("sha256"):
        return f"{path.name} does not match its manifest's sha256 (damaged?)"
    return None


def session_model(
    spec: ModelSpec, source: Path, providers: Sequence[str], *, full_hash: bool = True
) -> Path:
    """The file a session for ``spec`` should load: the derived int8 file when it is usable on
    these providers, else ``source`` (with a log line saying why)."""
    if spec.name not in RECIPES or not enabled():
        return source
    if any(p != "CPUExecutionProvider" for p in providers):
        # int8 QDQ graphs are a CPU optimisation; GPUs run the source (float16/float32) faster.
        log.info("model %s: using %s on %s", spec.name, source.name, ",".join(providers))
        return source
    reason = stale_reason(spec.name, source.parent, full_hash=full_hash)
    if reason is None:
        return derived_path(spec.name, source.parent)
    log.warning(
        "model %s: using the slower source model %s because %s; run `python manage.py "
        "fetch_models` to build it",
        spec.name,
        source.name,
        reason,
    )
    return source


# --------------------------------------------------------------------------------------------
# Building


def ensure_optimized(
    names: Iterable[str] | None = None,
    *,
    model_dir: Path | str | None = None,
    force: bool = False,
    log_line: Callable[[str], None] | None = None,
) -> list[BuildOutcome]:
    """Build every missing or stale derived file (default: all models); say what happened."""
    outcomes = []
    for name in list(names) if names else list(MODELS):
        path = derived_path(name, model_dir) if name in RECIPES else Path()
        if name not in RECIPES:
            outcomes.append(BuildOutcome(name, "skipped", path, "no optimised build defined"))
            continue
        if not force and stale_reason(name, model_dir) is None:
            outcomes.append(BuildOutcome(name, "present", path, "already built, sha256 verified"))
            continue
        if log_line:
            log_line(f"{name}: building {path.name} (int8, calibrated on project-made images) ...")
        start = time.perf_counter()
        try:
            manifest = build(name, model_dir=model_dir)
        except Exception as exc:  # a failed build must never break setup: the source still works
            outcomes.append(BuildOutcome(name, "failed", path, f"{type(exc).__name__}: {exc}"))
            continue
        outcomes.append(
            BuildOutcome(
                name,
                "built",
                path,
                f"{manifest['size_bytes'] / 1e6:.1f} MB in {time.perf_counter() - start:.0f} s, "
                f"sha256 {manifest['sha256'][:16]}...",
            )
        )
    return outcomes


def build(name: str, *, model_dir: Path | str | None = None) -> dict[str, Any]:
    """Build ``name``'s derived file and manifest from its verified source; return the manifest."""
    import onnx
    import onnxruntime
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import (
        CalibrationMethod,
        TensorData,
        TensorsData,
        save_tensors_data,
    )

    spec, recipe = MODELS[name], RECIPES[name]
    source = check_model(name, model_dir, full_hash=True)
    target = derived_path(name, model_dir)
    model = prepare_float_model(onnx.load(str(source)))
    ranges = calibrate(model, spec, recipe)
    float_bytes = model.SerializeToString()
    with tempfile.TemporaryDirectory(prefix="cutout-optimize-") as tmp:
        work = Path(tmp)
        float_path, cache_path, out_path = (
            work / "float.onnx",
            work / "ranges.json",
            work / "q.onnx",
        )
        float_path.write_bytes(float_bytes)
        tensors = TensorsData(
            CalibrationMethod.MinMax,
            {
                tensor: TensorData(
                    lowest=np.array(low, np.float32), highest=np.array(high, np.float32)
                )
                for tensor, (low, high) in ranges.items()
            },
        )
        save_tensors_data(tensors, cache_path)
        exclude = float_nodes(model, recipe)
        with _quiet_quantizer():
            quantize_static(
                str(float_path),
                str(out_path),
                None,
                calibration_cache_path=str(cache_path),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=list(recipe.op_types),
                nodes_to_exclude=exclude,
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
            )
        quantized = onnx.load(str(out_path))
        quantized.producer_name = "cutout.engine.optimize"
        quantized.producer_version = str(OPTIMIZER_VERSION)
        data = quantized.SerializeToString()
    ranges_digest = hashlib.sha256(
        json.dumps(sorted(ranges.items()), separators=(",", ":")).encode()
    ).hexdigest()
    manifest = {
        **expected_manifest(spec, recipe),
        "file": target.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "calibration_sha256": ranges_digest,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }
    _write_atomic(target, data)
    _write_atomic(manifest_path(name, model_dir), json.dumps(manifest, indent=2).encode() + b"\n")
    return manifest


class _DropAdvice(logging.Filter):
    """onnxruntime's quantiser logs the same pre-processing advice (with a link) on every build;
    we run shape inference and graph surgery ourselves, so it is noise in ``fetch_models``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Please consider")


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    root, advice = logging.getLogger(), _DropAdvice()
    root.addFilter(advice)
    try:
        yield
    finally:
        root.removeFilter(advice)


def float_nodes(model: Any, recipe: Recipe) -> list[str]:
    """Names of the nodes that stay float32: each ``keep_float`` conv, and the node that makes its
    input when that is a Concat/Resize/MaxPool/Add (quantising it would quantise the conv's input,
    and these convs amplify input error as much as weight error). Nodes downstream stay int8:
    keeping them float too (tried) made u2net 1.5x slower for no dev-set gain."""
    keep = set(recipe.keep_float)
    producers = {out: node for node in model.graph.node for out in node.output}
    names: list[str] = []
    found = 0
    for node in model.graph.node:
        if node.op_type == "Conv" and node.input[1] in keep:
            found += 1
            names.append(node.name)
            source = producers.get(node.input[0])
            if source is not None and source.op_type in ("Concat", "Resize", "MaxPool", "Add"):
                names.append(source.name)
    if found != len(keep):
        raise OptimizeError(f"{recipe.model}: keep_float names a weight the graph does not have")
    return names


def _write_atomic(target: Path, data: bytes) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Graph surgery


def prepare_float_model(model: Any) -> Any:
    """float32 weights, only the first output, opset >= 13. Works on the ``onnx`` ModelProto."""
    model = widen_float16(model)
    model = prune_to_first_output(model)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 13:
        from onnx import version_converter

        model = version_converter.convert_version(model, 13)
    import onnx

    onnx.checker.check_model(model)
    return model


def widen_float16(model: Any) -> Any:
    """Turn a float16-weight graph (float32 at its edges, Casts inside) into a float32 one."""
    from onnx import TensorProto, numpy_helper

    graph = model.graph
    if not any(init.data_type == TensorProto.FLOAT16 for init in graph.initializer):
        return model
    for index, init in enumerate(graph.initializer):
        if init.data_type == TensorProto.FLOAT16:
            wide = numpy_helper.to_array(init).astype(np.float32)
            graph.initializer[index].CopyFrom(numpy_helper.from_array(wide, init.name))
    for node in graph.node:
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT16:
                attr.i = TensorProto.FLOAT
            if attr.name == "value" and attr.t.data_type == TensorProto.FLOAT16:
                wide = numpy_helper.to_array(attr.t).astype(np.float32)
                attr.t.CopyFrom(numpy_helper.from_array(wide, attr.t.name))
    for info in [*graph.value_info, *graph.input, *graph.output]:
        if info.type.tensor_type.elem_type == TensorProto.FLOAT16:
            info.type.tensor_type.elem_type = TensorProto.FLOAT
    # Every Cast is now float -> float: bypass it (graph outputs keep theirs, as Identity-like).
    outputs = {o.name for o in graph.output}
    rename: dict[str, str] = {}
    kept = []
    for node in graph.node:
        if node.op_type == "Cast" and node.output[0] not in outputs:
            rename[node.output[0]] = node.input[0]
        else:
            kept.append(node)
    for node in kept:
        for index, name in enumerate(node.input):
            while name in rename:
                name = rename[name]
            node.input[index] = name
    del graph.node[:]
    graph.node.extend(kept)
    return model


def prune_to_first_output(model: Any) -> Any:
    """Keep only the graph's first output and the nodes, weights and shapes it needs."""
    graph = model.graph
    del graph.output[1:]
    needed = {graph.output[0].name}
    kept = []
    for node in reversed(list(graph.node)):
        if any(out in needed for out in node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    kept.reverse()
    del graph.node[:]
    graph.node.extend(kept)
    for field in (graph.initializer, graph.value_info):
        items = [item for item in field if item.name in needed]
        del field[:]
        field.extend(items)
    return model


# --------------------------------------------------------------------------------------------
# Calibration


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
    from .decode import DecodedImage
    from .pipelines import model_input

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
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, shape_inference

    inferred = shape_inference.infer_shapes(model)
    graph = inferred.graph
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
    inputs = calibration_inputs(spec, recipe)
    input_name = graph.input[0].name
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2  # fixed: thread splits can change float rounding
    low: dict[str, float] = {}
    high: dict[str, float] = {}
    for names in slices:
        probe = onnx.ModelProto()
        probe.CopyFrom(model)
        present = {out.name for out in probe.graph.output}
        probe.graph.output.extend(
            helper.make_tensor_value_info(name, TensorProto.FLOAT, None)
            for name in names
            if name not in present and name != input_name
        )
        session = ort.InferenceSession(
            probe.SerializeToString(), options, providers=["CPUExecutionProvider"]
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


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the int8 model files (setup time).")
    parser.add_argument("--only", nargs="+", choices=sorted(RECIPES), metavar="NAME")
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    outcomes = ensure_optimized(
        args.only, model_dir=args.model_dir, force=args.force, log_line=print
    )
    for outcome in outcomes:
        print(f"{outcome.name}: {outcome.status} - {outcome.message}")
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
