"""What input the service accepts (:class:`Limits`): the bottom of the engine, imports nothing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What input the service accepts. The Django layer builds this from settings."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 25_000_000
    min_side: int = 32
