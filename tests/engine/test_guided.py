"""Guided refinement in the engine: hints checked, and the real u2netp model on made scenes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cutout.engine import (
    MAX_HINTS,
    MAX_STROKE_POINTS,
    DecodedImage,
    InvalidOption,
    Options,
    Prior,
    compute_matte,
    edit_cutout,
    hints_as_json,
    matte_from_png,
    parse_hints,
    parse_roi,
    prior_from_bytes,
    prior_from_matte,
    prior_to_bytes,
    refine_with_hints,
    stored_matte_png,
)

W, H = 320, 240


def _background() -> Image.Image:
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[:] = np.linspace(170, 210, W).astype(np.uint8)[None, :, None]
    return Image.fromarray(rgb)


@pytest.fixture(scope="module")
def two_objects(model_dir):
    """A red disc (the subject) and a blue square the model keeps too."""
    image = _background()
    draw = ImageDraw.Draw(image)
    draw.ellipse((40, 40, 140, 200), fill=(200, 30, 30))
    draw.rectangle((200, 80, 280, 160), fill=(30, 60, 200))
    decoded = DecodedImage.from_pil(image, "PNG")
    return decoded, compute_matte(decoded, pipeline="fast", model_dir=model_dir)


@pytest.fixture(scope="module")
def missed_arm(model_dir):
    """A red body with a grey arm the colour of the background: the model misses the arm."""
    image = Image.new("RGB", (W, H), (180, 180, 175))
    draw = ImageDraw.Draw(image)
    draw.ellipse((110, 50, 210, 190), fill=(200, 30, 30))
    draw.rectangle((205, 110, 300, 130), fill=(150, 150, 140))
    decoded = DecodedImage.from_pil(image, "PNG")
    return decoded, compute_matte(decoded, pipeline="fast", model_dir=model_dir)


def _fg(alpha: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> float:
    return float((alpha[y0:y1, x0:x1] >= 128).mean())


# ---------------------------------------------------------------------------------------------
# Parsing


def test_hints_parse_to_their_canonical_json():
    raw = [
        {"kind": "keep", "x": 10, "y": 20.7},
        {"kind": "remove", "points": [[1, 2], [3.5, 4]], "radius": 5},
        {"kind": "box", "box": [0, 0, 100, 50]},
    ]
    hints = parse_hints(raw, width=W, height=H)
    assert [h.kind for h in hints] == ["keep", "remove", "box"]
    assert hints[0].is_click and hints[1].is_stroke and hints[2].box == (0, 0, 100, 50)
    assert hints_as_json(hints) == [
        {"kind": "keep", "x": 10, "y": 20},
        {"kind": "remove", "points": [[1, 2], [3.5, 4]], "radius": 5},
        {"kind": "box", "box": [0, 0, 100, 50]},
    ]
    assert parse_hints('[{"kind": "keep", "x": 1, "y": 2}]', width=W, height=H)[0].x == 1
    assert parse_hints([], width=W, height=H) == ()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ([{"kind": "grow", "x": 1, "y": 1}], "unknown kind"),
        ([{"kind": "keep", "x": W, "y": 1}], "outside the image"),
        ([{"kind": "keep", "x": -1, "y": 1}], "outside the image"),
        ([{"kind": "keep", "x": "3", "y": 1}], "x must be a number"),
        ([{"kind": "keep", "x": True, "y": 1}], "x must be a number"),
        ([{"kind": "keep", "y": 1}], "x must be a number"),
        ([{"kind": "keep", "x": 1, "y": 1, "size": 3}], "unexpected size"),
        ([{"kind": "box", "box": [10, 10, 5, 20]}], "x0 < x1"),
        ([{"kind": "box", "box": [0, 0, W + 1, H]}], "inside the image"),
        ([{"kind": "box", "box": [0, 0, 10]}], "box must be"),
        ([{"kind": "box", "box": [0, 0, 9, 9]}, {"kind": "box", "box": [1, 1, 9, 9]}], "one box"),
        ([{"kind": "keep", "points": [[1, 1]], "radius": 0}], "radius"),
        ([{"kind": "keep", "points": [], "radius": 3}], "non-empty"),
        ([{"kind": "keep", "points": [[1, 1, 1]], "radius": 3}], "[x, y] pair"),
        ([{"kind": "keep", "points": [[1, W * 9]], "radius": 3}], "outside the image"),
        ([{"kind": "keep", "x": 1, "y": 1}] * (MAX_HINTS + 1), f"at most {MAX_HINTS}"),
        (
            [{"kind": "keep", "points": [[1, 1]] * (MAX_STROKE_POINTS + 1), "radius": 2}],
            f"at most {MAX_STROKE_POINTS}",
        ),
        ("[{", "JSON list"),
        ({"kind": "keep"}, "list of hint objects"),
        (["keep"], "an object"),
    ],
)
def test_bad_hints_say_what_is_wrong(value, words):
    with pytest.raises(InvalidOption) as caught:
        parse_hints(value, width=W, height=H)
    assert caught.value.field == "hints"
    assert words in caught.value.message


def test_roi_reads_px_and_percent_as_a_box():
    assert parse_roi("0% 0% 100% 100%", width=W, height=H) is None
    roi = parse_roi("10px 20px 50% 100%", width=W, height=H)
    assert roi is not None and roi.box == (10, 20, 160, 240)
    for bad, words in (
        ("1 2 3", "four values"),
        ("0px 0px 400px 10px", "exceeds"),
        ("9px 9px 9px 20px", "empty"),
    ):
        with pytest.raises(InvalidOption, match=words) as caught:
            parse_roi(bad, width=W, height=H)
        assert caught.value.field == "roi"


# ---------------------------------------------------------------------------------------------
# The real model on made scenes


def test_a_box_excludes_a_second_object(two_objects, model_dir):
    image, auto = two_objects
    assert _fg(auto.alpha, 200, 80, 280, 160) > 0.9  # the model keeps the square
    refined = refine_with_hints(
        image,
        [{"kind": "box", "box": [20, 20, 160, 220]}],
        pipeline="fast",
        base=auto,
        model_dir=model_dir,
    )
    alpha = refined.matte.alpha
    assert _fg(alpha, 200, 80, 280, 160) == 0.0
    assert _fg(alpha, 60, 60, 120, 180) > 0.95
    assert refined.prior is not None and refined.prior.crop_box == (20, 20, 160, 220)


def test_a_remove_click_drops_a_kept_background_part(two_objects, model_dir):
    image, auto = two_objects
    refined = refine_with_hints(
        image,
        [{"kind": "remove", "x": 240, "y": 120}],
        pipeline="fast",
        base=auto,
        model_dir=model_dir,
    )
    assert _fg(refined.matte.alpha, 200, 80, 280, 160) == 0.0
    assert _fg(refined.matte.alpha, 60, 60, 120, 180) > 0.95


def test_a_keep_click_on_a_missed_part_adds_it(missed_arm, model_dir):
    image, auto = missed_arm
    arm = (215, 113, 295, 127)
    assert _fg(auto.alpha, *arm) < 0.1
    refined = refine_with_hints(
        image,
        [{"kind": "keep", "x": 260, "y": 120}],
        pipeline="fast",
        base=auto,
        model_dir=model_dir,
    )
    alpha = refined.matte.alpha
    assert _fg(alpha, *arm) > 0.5
    assert _fg(alpha, 130, 80, 190, 160) > 0.95  # the body stays
    assert _fg(alpha, 0, 0, W, 40) == 0.0  # the background stays out


def test_strokes_are_honoured_exactly_and_last(two_objects, model_dir):
    image, auto = two_objects
    hints = [
        {"kind": "remove", "points": [[60, 100], [120, 100]], "radius": 6},
        {"kind": "keep", "points": [[10, 10]], "radius": 4},
    ]
    alpha = refine_with_hints(image, hints, pipeline="fast", base=auto).matte.alpha
    yy, xx = np.mgrid[:H, :W]
    erased = (np.abs(yy - 100) <= 6) & (xx >= 60) & (xx <= 120)
    assert (alpha[erased] == 0).all()
    assert (alpha[(yy - 10) ** 2 + (xx - 10) ** 2 <= 16] == 255).all()
    untouched = ~erased & ((yy - 10) ** 2 + (xx - 10) ** 2 > 64)
    untouched[94:107, 54:127] = False
    assert np.array_equal(alpha[untouched], auto.alpha[untouched])


def test_no_hints_give_the_automatic_matte(two_objects):
    image, auto = two_objects
    refined = refine_with_hints(image, [], pipeline="fast", base=auto)
    assert np.array_equal(refined.matte.alpha, auto.alpha)
    assert refined.prior is None and not refined.prior_changed  # no model was needed


def test_same_hints_give_the_same_matte_with_or_without_a_stored_prior(two_objects, model_dir):
    image, auto = two_objects
    hints = [{"kind": "box", "box": [10, 10, 170, 230]}, {"kind": "keep", "x": 90, "y": 120}]
    fresh = refine_with_hints(image, hints, pipeline="fast", base=auto, model_dir=model_dir)
    assert fresh.prior_changed and fresh.prior is not None
    stored = prior_from_bytes(prior_to_bytes(fresh.prior))
    again = refine_with_hints(
        image, hints, pipeline="fast", base=auto, prior=stored, model_dir=model_dir
    )
    assert not again.prior_changed  # the box's crop run was kept in the prior
    assert again.matte.alpha.tobytes() == fresh.matte.alpha.tobytes()


def test_the_prior_keeps_the_upload_model_run_and_round_trips(two_objects):
    image, auto = two_objects
    prior = prior_from_matte(image, auto)
    assert set(prior.predictions) == {"u2netp"} and prior.size == (W, H)
    back = prior_from_bytes(prior_to_bytes(prior))
    assert np.abs(back.predictions["u2netp"] - prior.predictions["u2netp"]).max() < 1e-4
    assert len(prior_to_bytes(prior)) < 250_000


def test_a_prior_missing_a_model_is_completed(two_objects, model_dir):
    image, auto = two_objects
    empty = Prior(size=(W, H))
    refined = refine_with_hints(
        image,
        [{"kind": "remove", "x": 240, "y": 120}],
        pipeline="fast",
        base=auto,
        prior=empty,
        model_dir=model_dir,
    )
    assert refined.prior_changed and refined.prior is not None
    assert "u2netp" in refined.prior.predictions


def test_edit_cutout_stores_a_matte_a_result_and_the_prior(two_objects, model_dir):
    image, auto = two_objects
    png = io.BytesIO()
    image.image.save(png, "PNG")
    edit = edit_cutout(
        png.getvalue(),
        [{"kind": "remove", "x": 240, "y": 120}],
        base_matte=stored_matte_png(image, auto),
        prior=None,
        options=Options(mode="mask", format="png", pipeline="fast"),
        pipeline="fast",
        model_dir=model_dir,
    )
    assert edit.prior is not None
    assert np.array_equal(matte_from_png(edit.stored_matte).alpha, edit.matte.alpha)
    mask = np.asarray(Image.open(io.BytesIO(edit.result.data)).convert("L"))
    assert mask.shape == (H, W) and _fg(mask, 200, 80, 280, 160) == 0.0


def test_the_box_takes_the_evidence_that_spans_it() -> None:
    # The full image's models are sure of the subject's left half only (its right half reads as
    # background); the crop's run sees all of it. The mean of the two loses the right half; with
    # box_inset the crop's map wins because its subject spans the box (inset 8%).
    from cutout.engine import guided

    z = np.full((100, 100), -8.0, np.float32)
    z[17:83, 17:50] = 5.0
    z[17:83, 50:83] = -6.0
    box = (10, 10, 90, 90)
    crop = np.full((80, 80), -8.0, np.float32)
    crop[7:73, 7:73] = 4.0
    _z, plain = guided._box_decision(z, crop, box, guided.Params(box_inset=0.0))
    _z, chosen = guided._box_decision(z, crop, box, guided.Params(box_inset=0.08))
    assert plain[20:80, 20:47].all() and not plain[20:80, 53:80].any()
    assert chosen[17:83, 17:83].all() and not chosen[:10].any() and not chosen[:, 90:].any()
    assert guided.DEFAULT_PARAMS.box_inset == 0.08
