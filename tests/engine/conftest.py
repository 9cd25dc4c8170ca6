"""Engine test fixtures: synthetic images made in code, and the real u2netp model.

The model files are installed by ``python manage.py fetch_models`` (``make test`` runs it). A
missing model fails the test with that instruction rather than skipping it: the engine tests are
meant to exercise the real network.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cutout.engine import DecodedImage, Matte, compute_matte, registry
from cutout.tools.synthetic import subject_scene


@pytest.fixture(scope="session")
def model_dir():
    directory = registry.resolve_model_dir()
    path = directory / registry.MODELS["u2netp"].file
    if not path.is_file():
        pytest.fail(
            f"u2netp is not installed in {directory}: run `python manage.py fetch_models`",
            pytrace=False,
        )
    return directory


@pytest.fixture(scope="session")
def scene() -> tuple[np.ndarray, np.ndarray]:
    """(rgb, true alpha) of a red figure on a soft grey gradient, 320x240."""
    return subject_scene(320, 240, seed=3)


@pytest.fixture(scope="session")
def scene_png(scene) -> bytes:
    out = io.BytesIO()
    Image.fromarray(scene[0]).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="session")
def scene_jpeg(scene) -> bytes:
    out = io.BytesIO()
    Image.fromarray(scene[0]).save(out, "JPEG", quality=92)
    return out.getvalue()


@pytest.fixture(scope="session")
def scene_image(scene) -> DecodedImage:
    return DecodedImage.from_pil(Image.fromarray(scene[0]), "PNG")


@pytest.fixture(scope="session")
def scene_matte(scene_image, model_dir) -> Matte:
    return compute_matte(scene_image, pipeline="fast", model_dir=model_dir)


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def open_result(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))
