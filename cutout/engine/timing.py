"""Stage timings: ``with timed(timings, "inference"): ...`` adds the milliseconds to ``timings``."""

from __future__ import annotations

import time


def timed(timings: dict[str, float], stage: str) -> _Timer:
    """A context manager that adds its block's wall time (ms, 2 decimals) to ``timings[stage]``."""
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
