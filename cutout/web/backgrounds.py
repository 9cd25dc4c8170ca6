"""The preset background pictures the re-render form offers, drawn by the project itself
(:mod:`cutout.tools.backgrounds` draws them; they are kept as JPEGs under ``static/backgrounds/``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.staticfiles import finders
from django.templatetags.static import static

from cutout.tools.backgrounds import PRESETS


@dataclass(frozen=True)
class Preset:
    name: str
    label: str

    @property
    def thumb_url(self) -> str:
        return static(f"backgrounds/{self.name}-thumb.jpg")

    @property
    def url(self) -> str:
        return static(f"backgrounds/{self.name}.jpg")


def presets() -> list[Preset]:
    return [Preset(name, label) for name, (label, _draw) in PRESETS.items()]


def preset_bytes(name: str) -> bytes:
    """The JPEG of preset ``name``. Raises KeyError for a name that is not a preset, or when
    its file is missing (a checkout without ``static/backgrounds``)."""
    if name not in PRESETS:
        raise KeyError(name)
    found = finders.find(f"backgrounds/{name}.jpg")
    path = found[0] if isinstance(found, list) else found
    if not path:
        raise KeyError(name)
    with open(path, "rb") as handle:
        return handle.read()
