"""Faster derived model files, built once at setup time from the verified source models.

``python manage.py fetch_models`` calls :func:`ensure_optimized` after the sources are installed (or
run ``python -m cutout.engine.setup.int8``). Nothing here runs while serving: the engine only
*reads* a derived file, through :func:`cutout.engine.derived.session_model`, and falls back to the
source model (with one log line saying why) when the derived file is missing, stale or damaged.

What a build does, for each model (see :data:`cutout.engine.derived.RECIPES`):

1. verify the source file's sha256 against the registry (:func:`cutout.engine.registry.check_model`);
2. graph surgery (:mod:`.graph`): float16 weights widened to float32, the graph pruned to the one
   output the engine reads, the opset raised to 13 for per-channel quantisation;
3. calibration on project-made images (:mod:`.calibration`, seeded: no downloads, no dataset),
   fed through the engine's own preprocessing, keeping a percentile range per tensor;
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
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..derived import (
    OPTIMIZER_VERSION,
    RECIPES,
    Recipe,
    derived_path,
    expected_manifest,
    manifest_path,
    stale_reason,
)
from ..registry import MODELS, check_model
from .calibration import calibrate
from .graph import prepare_float_model

# Written into every built file; kept from when this module was ``cutout.engine.optimize`` so a
# rebuild stays byte-identical to the files already installed.
PRODUCER = "cutout.engine.optimize"


@dataclass(frozen=True)
class BuildOutcome:
    name: str
    status: str  # "present", "built", "failed" or "skipped"
    path: Path
    message: str


class OptimizeError(Exception):
    """A derived model could not be built."""


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

    spec, recipe = MODELS[name], RECIPES[name]
    source = check_model(name, model_dir, full_hash=True)
    target = derived_path(name, model_dir)
    model = prepare_float_model(onnx.load(str(source)))
    ranges = calibrate(model, spec, recipe)
    data = quantize(model, ranges, recipe)
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


def quantize(model: Any, ranges: dict[str, tuple[float, float]], recipe: Recipe) -> bytes:
    """The int8 QDQ model (serialised) of the float ``model`` with the calibrated ``ranges``."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import (
        CalibrationMethod,
        TensorData,
        TensorsData,
        save_tensors_data,
    )

    with tempfile.TemporaryDirectory(prefix="cutout-optimize-") as tmp:
        work = Path(tmp)
        float_path, cache_path, out_path = (
            work / "float.onnx",
            work / "ranges.json",
            work / "q.onnx",
        )
        float_path.write_bytes(model.SerializeToString())
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
        quantized.producer_name = PRODUCER
        quantized.producer_version = str(OPTIMIZER_VERSION)
        return bytes(quantized.SerializeToString())


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
