"""Which file a session loads: the int8 file built at setup time, when its manifest says it is
current, else the float source.

``python manage.py fetch_models`` builds ``<model>.int8.onnx`` and its manifest ``<model>.int8.json``
next to the source (:mod:`cutout.engine.setup.int8`). Here the engine only *reads* them, through
:func:`session_model`, and falls back to the source model (with one log line saying why) when the
derived file is missing, stale or damaged. The manifest, not a hard-coded hash, is what is checked:
the source sha256, :data:`OPTIMIZER_VERSION`, the :data:`RECIPES` entry and the file's own sha256
and size. The recipes live here (not in the setup package) because the check compares them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .registry import MODELS, ModelSpec, file_sha256, resolve_model_dir

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
