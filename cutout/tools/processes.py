"""Child servers of the benchmarks (and their tests): each started in a session of its own, so
stopping it stops everything it forked (gunicorn's workers, Celery's children)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterable
from typing import Any


def stop_groups(procs: Iterable[subprocess.Popen[Any]], *, timeout: float = 30) -> None:
    """SIGTERM each process group still running, wait, then SIGKILL what did not stop."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
