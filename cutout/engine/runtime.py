"""How the engine's onnxruntime sessions run: execution providers, session tuning, model file.

- **Providers** come from ``CUTOUT_ORT_PROVIDERS`` (comma-separated onnxruntime names, in order of
  preference, e.g. ``CUDAExecutionProvider,CPUExecutionProvider``), default CPU only;
  ``CPUExecutionProvider`` is always last. A provider that was asked for and cannot run is an
  error, :class:`~cutout.engine.errors.ProviderUnavailable`, never a silent fall-back to the CPU
  (rembg's and onnxruntime's own behaviour, and a common complaint): either this onnxruntime
  build lacks it (:func:`providers`), or a session created with it did not get it, e.g. CUDA's
  libraries are missing (:func:`check_session`). Workers preload their models at start, so a
  misconfigured GPU host stops there, with the reason in the log. GPU providers need the
  ``onnxruntime-gpu`` wheel instead of ``onnxruntime``; they run the source float models, not the
  int8 files.
- **Model file**: chosen by :func:`cutout.engine.derived.session_model` (on CPU, the int8 file
  that ``fetch_models`` built when its manifest matches the registry; otherwise the source).
- **Session tuning** (:func:`tune`): measured on the 2-core Zen 4 reference machine, see
  ``docs/performance.md``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from .errors import ProviderUnavailable

log = logging.getLogger("cutout.engine")

PROVIDERS_ENV = "CUTOUT_ORT_PROVIDERS"
CPU = "CPUExecutionProvider"


def providers(
    env: dict[str, str] | None = None, available: Sequence[str] | None = None
) -> list[str]:
    """The execution providers to ask for, best first, always ending with the CPU one.

    Raises :class:`ProviderUnavailable` when one that was asked for is not in this build."""
    wanted = requested(env)
    if available is None:
        import onnxruntime as ort

        available = ort.get_available_providers()
    missing = [name for name in wanted if name not in available]
    if missing:
        raise ProviderUnavailable(
            f"{PROVIDERS_ENV} asks for {', '.join(missing)}, which this onnxruntime build does "
            f"not have (it has {', '.join(available)}). GPU providers need the onnxruntime-gpu "
            f"package instead of onnxruntime; to run on the CPU, leave {PROVIDERS_ENV} unset."
        )
    return [*wanted, CPU]


def check_providers() -> list[str]:
    """The providers sessions will use; :class:`ProviderUnavailable` if one asked for is not in
    this build. Cheap (no model is loaded): for a process's start-up."""
    return providers()


def requested(env: dict[str, str] | None = None) -> list[str]:
    """The non-CPU providers ``CUTOUT_ORT_PROVIDERS`` names, in order, without repeats."""
    raw = (os.environ if env is None else env).get(PROVIDERS_ENV, "")
    wanted: list[str] = []
    for name in (part.strip() for part in raw.split(",")):
        if name and name != CPU and name not in wanted:
            wanted.append(name)
    return wanted


def check_session(session: Any, model: str, wanted: Sequence[str]) -> None:
    """Raise :class:`ProviderUnavailable` if ``session`` lacks a provider it was created with.

    onnxruntime itself only logs when a provider fails to initialise (CUDA or cuDNN libraries
    missing, no device) and runs on the CPU instead."""
    got = list(session.get_providers())
    lost = [name for name in wanted if name != CPU and name not in got]
    if lost:
        raise ProviderUnavailable(
            f"model {model}: onnxruntime could not start {', '.join(lost)} (the session runs on "
            f"{', '.join(got)}; onnxruntime's log above says why, e.g. missing CUDA libraries). "
            f"Fix the GPU set-up, or leave {PROVIDERS_ENV} unset to run on the CPU."
        )


def tune(options: Any) -> None:
    """Session settings that measured faster and steadier (docs/performance.md).

    Worker threads do not spin after a run: spinning burns a core between requests, and on a
    machine shared by two workers (or a web server) it steals the cycles the other one needs.
    """
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
