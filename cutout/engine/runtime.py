"""How the engine's onnxruntime sessions run: execution providers, session tuning, model file.

- **Providers** come from ``CUTOUT_ORT_PROVIDERS`` (comma-separated onnxruntime names, in order of
  preference, e.g. ``CUDAExecutionProvider,CPUExecutionProvider``), default CPU only. A provider
  this onnxruntime build lacks is dropped with a warning; ``CPUExecutionProvider`` is always last.
  GPU providers need the ``onnxruntime-gpu`` wheel instead of ``onnxruntime`` (see
  requirements.txt); they run the source float models, not the int8 files.
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

log = logging.getLogger("cutout.engine")

PROVIDERS_ENV = "CUTOUT_ORT_PROVIDERS"
CPU = "CPUExecutionProvider"


def providers(
    env: dict[str, str] | None = None, available: Sequence[str] | None = None
) -> list[str]:
    """The execution providers to ask for, best first, always ending with the CPU one."""
    raw = (os.environ if env is None else env).get(PROVIDERS_ENV, "")
    wanted = [name.strip() for name in raw.split(",") if name.strip()]
    if available is None:
        import onnxruntime as ort

        available = ort.get_available_providers()
    chosen = []
    for name in wanted:
        if name == CPU or name in chosen:
            continue
        if name in available:
            chosen.append(name)
        else:
            log.warning(
                "%s names %s, which this onnxruntime build does not have (available: %s); "
                "ignored. GPU providers need the onnxruntime-gpu package.",
                PROVIDERS_ENV,
                name,
                ", ".join(available),
            )
    return [*chosen, CPU]


def tune(options: Any) -> None:
    """Session settings that measured faster and steadier (docs/performance.md).

    Worker threads do not spin after a run: spinning burns a core between requests, and on a
    machine shared by two workers (or a web server) it steals the cycles the other one needs.
    """
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
