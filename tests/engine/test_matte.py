import numpy as np
import pytest
from PIL import Image

from cutout.engine import (
    DecodedImage,
    InvalidImage,
    compute_matte,
    matte_from_png,
    matte_to_png,
    refine,
)
from cutout.engine.foreground import estimate_foreground
from cutout.engine.inference import Context, predict
from cutout.tools.synthetic import subject_scene

from .conftest import iou


def test_fast_matte_finds_the_subject(scene, scene_matte):
    _rgb, truth = scene
    alpha = scene_matte.alpha
    assert alpha.shape == truth.shape and alpha.dtype == np.uint8
    inside, outside = truth > 0.99, truth < 0.01
    assert alpha[inside].mean() > 235
    assert alpha[outside].mean() < 10
    assert iou(alpha >= 128, truth >= 0.5) > 0.93
    assert 0.9 <= scene_matte.confidence <= 1.0
    assert abs(scene_matte.coverage - truth.mean()) < 0.03
    assert scene_matte.pipeline == "fast" and scene_matte.models == ("u2netp",)
    assert {"preprocess", "inference", "refine"} <= set(scene_matte.timings)


def test_edges_follow_the_image_not_the_low_res_grid(model_dir):
    """At 3x the model's resolution, plain upsampling leaves a ramp several pixels wide; the guided
    filter snaps the edge back to the figure's real outline."""
    rgb, truth = subject_scene(960, 720, seed=5)
    image = DecodedImage.from_pil(Image.fromarray(rgb))
    prob = predict(image, "u2netp", Context(model_dir=model_dir))
    plain = refine.upsample(prob, image.size)
    guided = refine.guided_upsample(image.rgb_image, prob)
    edge = (truth > 0.02) & (truth < 0.98)
    near = np.zeros_like(edge)
    ys, xs = np.nonzero(edge)
    for dy in range(-6, 7):
        near[np.clip(ys + dy, 0, 719), xs] = True
    plain_err = np.abs(plain - truth)[near].mean()
    guided_err = np.abs(np.clip(guided, 0, 1) - truth)[near].mean()
    assert guided_err < plain_err * 0.8
    final = refine.refine_matte(image.rgb_image, prob) / 255.0  # what the pipelines use
    assert np.abs(final - truth)[near].mean() < plain_err * 0.8


def test_source_transparency_is_kept(model_dir, scene):
    rgba = Image.fromarray(scene[0]).convert("RGBA")
    hole = Image.new("L", rgba.size, 255)
    hole.paste(0, (150, 0, 170, 240))  # a transparent vertical slot through the subject
    rgba.putalpha(hole)
    matte = compute_matte(DecodedImage.from_pil(rgba), pipeline="fast", model_dir=model_dir)
    assert matte.alpha[:, 150:170].max() == 0
    assert matte.alpha[150, 140] > 200  # the subject either side of the slot is still there


def test_matte_png_round_trip(scene_matte):
    data = matte_to_png(scene_matte)
    assert data.startswith(b"\x89PNG")
    back = matte_from_png(data)
    assert np.array_equal(back.alpha, scene_matte.alpha)
    assert back.confidence == scene_matte.confidence
    assert (back.pipeline, back.models) == ("fast", ("u2netp",))
    with pytest.raises(InvalidImage):
        matte_from_png(b"not a png")


@pytest.mark.parametrize(("ramp", "limit"), [(6, 0.3), (16, 0.6)])
def test_decontamination_removes_background_fringe(ramp, limit):
    """A red subject with a soft edge over green: the colour that shows through alpha loses the green."""
    height, width = 64, 96
    alpha = np.zeros((height, width), np.float32)
    alpha[:, :40] = 1.0
    alpha[:, 40 : 40 + ramp] = np.linspace(1.0, 0.0, ramp)[None, :]
    fg, bg = np.array([0.9, 0.1, 0.1]), np.array([0.1, 0.8, 0.1])
    composite = alpha[..., None] * fg + (1 - alpha[..., None]) * bg
    rgb = (composite * 255 + 0.5).astype(np.uint8)
    a8 = (alpha * 255 + 0.5).astype(np.uint8)
    out = estimate_foreground(rgb, a8)
    band = (a8 > 25) & (a8 < 230)
    weight = alpha[band][:, None]  # what a viewer sees of each pixel's colour
    before = (weight * np.abs(rgb[band] / 255 - fg)).mean()
    after = (weight * np.abs(out[band] / 255 - fg)).mean()
    assert after < before * limit
    assert np.array_equal(out[a8 == 255], rgb[a8 == 255])  # opaque pixels keep their colour exactly


@pytest.mark.slow
def test_isnet_best_pipeline_on_one_image(scene_image, scene):
    matte = compute_matte(scene_image, pipeline="best")
    assert matte.models == ("isnet", "u2net")
    assert iou(matte.alpha >= 128, scene[1] >= 0.5) > 0.93
    assert matte.confidence > 0.9


@pytest.mark.parametrize("colour", [(128, 128, 128), (0, 0, 0), (255, 255, 255)])
def test_an_image_without_a_subject_gets_an_empty_matte(model_dir, colour):
    """Min-max scaling must not blow model noise up into a fake subject on a blank image."""
    blank = DecodedImage.from_pil(Image.new("RGB", (300, 200), colour))
    matte = compute_matte(blank, pipeline="fast", model_dir=model_dir)
    assert matte.alpha.max() < 20
    assert matte.confidence == 0.0 and matte.coverage < 0.01
