"""The stored matte file (stored_matte_png / decoded_from_stored_matte), on a real u2netp matte."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cutout.engine import (
    InvalidImage,
    Matte,
    Options,
    decoded_from_stored_matte,
    matte_from_png,
    render,
    stored_matte_png,
)
from cutout.engine.foreground import STAT_SIDE, estimate_foreground

from .conftest import open_result


@pytest.fixture(scope="module")
def stored(scene_image, scene_matte) -> bytes:
    return stored_matte_png(scene_image, scene_matte)


def _pixels(data: bytes) -> np.ndarray:
    image = open_result(data)
    assert image.mode == "RGBA"
    return np.asarray(image)


def test_alpha_is_the_matte_and_its_facts_come_back(stored, scene_matte):
    assert 0 < np.count_nonzero(scene_matte.alpha == 0) < scene_matte.alpha.size  # a real matte
    assert np.array_equal(_pixels(stored)[..., 3], scene_matte.alpha)
    back = matte_from_png(stored)
    assert np.array_equal(back.alpha, scene_matte.alpha)
    assert (back.confidence, back.pipeline, back.models) == (
        scene_matte.confidence,
        scene_matte.pipeline,
        scene_matte.models,
    )


def test_colour_is_the_subject_and_no_background_is_kept(stored, scene_image, scene_matte):
    rgba = _pixels(stored)
    alpha = scene_matte.alpha
    inside = alpha > 0
    fg = estimate_foreground(scene_image.rgb, alpha, reduced=scene_image.reduced(STAT_SIDE))
    assert np.array_equal(rgba[..., :3][inside], fg[inside])
    # The scene is a red figure on grey: where alpha is 0 the stored colour is the subject's
    # red spread outwards, not the grey background of the upload.
    outside = rgba[..., :3][alpha == 0].astype(np.int16)
    background = scene_image.rgb[alpha == 0].astype(np.int16)
    assert np.median(outside[:, 0] - outside[:, 1]) > 60
    assert np.median(np.abs(background[:, 0] - background[:, 1])) < 10


def test_an_empty_matte_stores_nothing_but_zeros(scene_image):
    empty = Matte(np.zeros((scene_image.height, scene_image.width), np.uint8), 0.0, "fast", ())
    assert not _pixels(stored_matte_png(scene_image, empty)).any()


def test_a_stored_matte_renders_like_the_original(stored, scene_image, scene_matte):
    source = decoded_from_stored_matte(stored)
    assert (source.size, source.source_format, source.has_alpha) == (
        scene_image.size,
        "PNG",
        False,
    )
    options = Options(mode="background", bg_color="#0000ff", format="png", pipeline="fast")
    from_stored = np.asarray(
        open_result(render(source, matte_from_png(stored), options).data), np.int16
    )
    from_original = np.asarray(
        open_result(render(scene_image, scene_matte, options).data), np.int16
    )
    subject = scene_matte.alpha >= 128
    assert np.abs(from_stored - from_original)[subject].mean() < 2.0
    assert np.abs(from_stored - from_original).max() <= 128  # only faint edges may differ more


def test_anything_but_a_png_is_refused():
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), "red").save(buffer, "JPEG")
    for data in (b"", b"not an image", buffer.getvalue()):
        with pytest.raises(InvalidImage):
            decoded_from_stored_matte(data)
