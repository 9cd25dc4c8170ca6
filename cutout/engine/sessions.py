"""The per-process onnxruntime sessions, and how they are configured.

One :class:`onnxruntime.InferenceSession` per model per process, created on first use under a lock,
checked against its sha256 once (:func:`cutout.engine.registry.check_model`), loaded from the file
:func:`cutout.engine.derived.session_model` picks (the int8 build on CPU when current), and warmed
with one run so the first real request does not pay for onnxruntime's lazy initialisation.
``InferenceSession.run`` is thread-safe, so threads share it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import derived, runtime
from .errors import ModelMissing
from .registry import MODELS, ModelSpec, check_model, resolve_model_dir, set_model_dir


@dataclass
class _Config:
    threads: int = 0  # 0: onnxruntime's default (one per physical core)
    # onnxruntime's CPU memory arena: ~15-20% faster inference, but peak RSS for isnet is ~2.1 GB
    # with it against ~1.3 GB without (u2net 1.05 vs 0.75 GB). Off for memory-bound workers.
    arena: bool = True
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
            set_model_dir(model_dir)


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

    full_hash = _config.verify and (spec.name, directory) not in _config.verified
    path = check_model(spec.name, directory, full_hash=full_hash)
    providers = runtime.providers()
    path = derived.session_model(spec, path, providers, full_hash=full_hash)
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
    runtime.check_session(session, spec.name, providers)
    warm = np.zeros((1, 3, spec.input_size, spec.input_size), dtype=np.float32)
    session.run([output_name(session, spec)], {session.get_inputs()[0].name: warm})
    return session


def output_name(session: Any, spec: ModelSpec) -> str:
    """The name of the output the engine reads from ``session`` (the registry names or indexes it)."""
    if isinstance(spec.output, str):
        return spec.output
    return str(session.get_outputs()[spec.output].name)


def loaded_models() -> list[str]:
    """Names of the models with a session in this process, sorted."""
    return sorted({key[0] for key in _config.sessions})


def run_model(
    name: str, tensor: np.ndarray, model_dir: Path | str | None = None, *, threads: int = 0
) -> np.ndarray:
    """Run ``name`` on an NCHW float32 tensor; return its chosen output as (H, W) float32."""
    session = get_session(name, model_dir, threads=threads)
    spec = MODELS[name]
    out = session.run([output_name(session, spec)], {session.get_inputs()[0].name: tensor})[0]
    return np.asarray(out, dtype=np.float32).reshape(out.shape[-2], out.shape[-1])
