"""The ``best`` pipeline's fusion steps and its two-model scheduling.

``fill_holes`` and ``commit`` use fast formulations (one labelling pass; separable min/max filters
on bytes); they are checked here against the plain morphological definitions they replace.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from cutout.engine import DecodedImage, compute_matte, fusion, sessions
from cutout.tools.synthetic import subject_scene

EIGHT = np.ones((3, 3), dtype=bool)


def _reference_holes(mask: np.ndarray) -> np.ndarray:
    return ndimage.binary_fill_holes(mask) & ~mask


def _reference_band(mask: np.ndarray, rim: int) -> np.ndarray:
    edge = mask ^ ndimage.binary_erosion(mask, structure=EIGHT, border_value=1)
    if not edge.any():
        return edge
    return ndimage.binary_dilation(edge, structure=EIGHT, iterations=rim)


def _random_logits(rng: np.random.Generator) -> np.ndarray:
    h, w = (int(v) for v in rng.integers(4, 90, 2))
    noise = ndimage.gaussian_filter(rng.normal(0.0, 3.0, (h, w)), rng.uniform(0.5, 4.0))
    return (noise * rng.uniform(1.0, 10.0) + rng.uniform(-2.0, 2.0)).astype(np.float32)


def test_fill_holes_fills_exactly_the_enclosed_unsure_holes():
    rng = np.random.default_rng(7)
    min_logit = np.log(fusion.HOLE_MIN_PROB / (1 - fusion.HOLE_MIN_PROB))
    checked = 0
    for _ in range(200):
        z = _random_logits(rng)
        mask = z > 0
        out = fusion.fill_holes(mask, z)
        holes = _reference_holes(mask)
        assert (out & ~mask <= holes).all()  # only enclosed holes are ever filled
        labels, count = ndimage.label(holes)
        limit = fusion.HOLE_FRACTION * np.count_nonzero(mask)
        for index in range(1, count + 1):
            hole = labels == index
            expected = hole.sum() <= limit and np.median(z[hole]) >= min_logit
            assert out[hole].all() == expected and out[hole].any() == expected
            checked += 1
    assert checked > 50


def test_commit_rim_is_the_morphological_band():
    rng = np.random.default_rng(8)
    for _ in range(200):
        z = _random_logits(rng)
        mask = z > 0
        alpha = fusion.commit(z, mask, rim=2)
        band = _reference_band(mask, 2)
        assert np.array_equal(alpha[~band], mask[~band].astype(np.float32))
        inside = band & ((z > 0) == mask)
        assert np.allclose(alpha[inside], 1.0 / (1.0 + np.exp(-z[inside])), atol=1e-6)
    for full in (np.ones((9, 9), bool), np.zeros((9, 9), bool)):
        z = np.where(full, 4.0, -4.0).astype(np.float32)
        assert np.array_equal(fusion.commit(z, full), full.astype(np.float32))


def test_fill_holes_keeps_a_confident_hole_open_and_fills_an_unsure_one():
    mask = np.zeros((60, 90), dtype=bool)
    mask[10:50, 5:40] = True
    mask[10:50, 50:85] = True
    mask[25:35, 15:25] = False  # hole in the left block: the models were unsure (p ~ 0.2)
    mask[25:35, 60:70] = False  # hole in the right block: confidently background (p ~ 0.001)
    z = np.where(mask, 5.0, -7.0).astype(np.float32)
    z[25:35, 15:25] = -1.4
    out = fusion.fill_holes(mask, z)
    assert out[25:35, 15:25].all()
    assert not out[25:35, 60:70].any()


@pytest.mark.slow
def test_best_runs_u2net_beside_isnet_with_the_same_result(model_dir):
    """With two threads u2net runs on its own one-thread session beside ISNet; with one thread
    they run in turn. Same models, same matte."""
    rgb, truth = subject_scene(400, 300, seed=5)
    image = DecodedImage.from_pil(Image.fromarray(rgb))
    previous = sessions._config.threads
    try:
        sessions.configure(threads=2)
        assert sessions.side_threads() == 1
        side = compute_matte(image, pipeline="best", model_dir=model_dir)
        sessions.configure(threads=1)
        assert sessions.side_threads() == 0
        alone = compute_matte(image, pipeline="best", model_dir=model_dir)
    finally:
        sessions.configure(threads=previous)
    assert "u2net_inference" in side.timings and "u2net_wait" in side.timings
    assert "u2net_inference" not in alone.timings
    diff = np.abs(side.alpha.astype(np.int16) - alone.alpha.astype(np.int16))
    assert diff.max() <= 2  # int8 kernels may round differently per thread split
    fg = side.alpha >= 128
    true = truth >= 0.5
    assert (fg & true).sum() / (fg | true).sum() > 0.9
