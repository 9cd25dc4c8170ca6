"""Backgrounds (a picture, the photo's own background blurred), the subject's placement (scale,
position), shadow types, semitransparency, megapixel sizes and the "nothing found" judgement."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cutout.engine import (
    DecodedImage,
    InvalidOption,
    Matte,
    NoForeground,
    Options,
    compute_matte,
    foreground_found,
    process,
    render,
    require_foreground,
)
from cutout.tools.synthetic import subject_scene

from .conftest import encode, open_result


def picture(width: int, height: int, left: tuple[int, int, int], right: tuple[int, int, int]):
    """A background picture: its left half one colour, its right half another."""
    arr = np.zeros((height, width, 3), np.uint8)
    arr[:, : width // 2] = left
    arr[:, width // 2 :] = right
    return DecodedImage.from_pil(Image.fromarray(arr), "PNG")


def true_matte(alpha: np.ndarray) -> Matte:
    """A matte straight from a scene's true alpha: exact geometry for layout checks."""
    return Matte((alpha * 255 + 0.5).astype(np.uint8), 1.0, "fast", ("u2netp",))


def bbox_of(arr: np.ndarray, threshold: int = 128) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(arr > threshold)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_background_image_covers_the_canvas_under_the_subject(scene_image, scene_matte):
    # 100x50 onto 320x240: scaled by 4.8 to 480x240 and centred, so the canvas shows bg x 17..83.
    bg = picture(100, 50, (0, 0, 255), (0, 255, 0))
    result = render(scene_image, scene_matte, Options(bg_image="b"), background=bg)
    image = open_result(result.data)
    assert image.mode == "RGB" and image.size == (320, 240)  # an opaque picture
    arr = np.asarray(image).astype(int)
    assert arr[5, 5].tolist() == [0, 0, 255] and arr[5, 314].tolist() == [0, 255, 0]
    # The seam is at the centre, not stretched: the picture is not squashed to the canvas.
    row = arr[5, :, 2] > 128
    assert 155 <= int(row.sum()) <= 165
    r, g, b = arr[130, 160]
    assert r > 150 and g < 80 and b < 80  # the subject stays on top
    assert result.metadata["background"] == "image"


def test_background_image_of_the_same_size_is_used_as_is(scene_image, scene_matte):
    bg = picture(320, 240, (10, 20, 30), (200, 210, 220))
    arr = np.asarray(
        open_result(render(scene_image, scene_matte, Options(bg_image="b"), background=bg).data)
    )
    assert arr[0, 0].tolist() == [10, 20, 30] and arr[0, 319].tolist() == [200, 210, 220]


def test_transparent_parts_of_a_background_picture_show_white(scene_image, scene_matte):
    clear = DecodedImage.from_pil(Image.new("RGBA", (64, 48), (255, 0, 0, 0)), "PNG")
    arr = np.asarray(
        open_result(render(scene_image, scene_matte, Options(bg_image="b"), background=clear).data)
    )
    assert arr[3, 3].tolist() == [255, 255, 255]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"bg_image": "b", "bg_color": "red"}, "bg_image"),
        ({"bg_blur": "2%", "bg_color": "red"}, "bg_blur"),
        ({"bg_image": "b", "bg_blur": 4}, "bg_blur"),
        ({"bg_image": "b", "mode": "mask"}, "bg_image"),
        ({"bg_blur": "30%"}, "bg_blur"),
        ({"bg_blur": "wide"}, "bg_blur"),
        ({"bg_image": "x" * 101}, "bg_image"),
        ({"scale": "5%"}, "scale"),
        ({"scale": "big"}, "scale"),
        ({"position": "50% 50% 50%"}, "position"),
        ({"position": "120%"}, "position"),
        ({"shadow_type": "3D"}, "shadow_type"),
        ({"semitransparency": "no"}, "semitransparency"),
        ({"size": "0.001mp"}, "size"),
        ({"size": "lots-mp"}, "size"),
    ],
)
def test_bad_background_and_placement_options_name_their_field(kwargs, field):
    with pytest.raises(InvalidOption) as caught:
        Options(**kwargs)
    assert caught.value.field == field


def test_a_background_image_must_be_named_and_given_together(scene_image, scene_matte):
    bg = picture(10, 10, (0, 0, 0), (0, 0, 0))
    with pytest.raises(InvalidOption, match="none was given"):
        render(scene_image, scene_matte, Options(bg_image="b"))
    with pytest.raises(InvalidOption, match="does not name it"):
        render(scene_image, scene_matte, Options(), background=bg)


def blur_scene() -> tuple[DecodedImage, Matte, np.ndarray]:
    """The red figure on a black-and-white checkerboard (sharp detail to blur away)."""
    rgb, alpha = subject_scene(320, 240, seed=3, background="plain")
    yy, xx = np.mgrid[0:240, 0:320]
    checker = (((yy // 8) + (xx // 8)) % 2 * 255).astype(np.uint8)[..., None].repeat(3, 2)
    hard = alpha[..., None]
    mixed = (rgb * hard + checker * (1 - hard)).astype(np.uint8)
    return DecodedImage.from_pil(Image.fromarray(mixed), "PNG"), true_matte(alpha), alpha


def test_background_blur_softens_the_background_and_keeps_the_subject_sharp():
    image, matte, alpha = blur_scene()
    result = render(image, matte, Options(bg_blur="3%"))
    arr = np.asarray(open_result(result.data)).astype(np.float32)
    assert result.metadata["background"] == "blur" and arr.shape == (240, 320, 3)
    background = alpha < 0.01
    original = np.asarray(image.image).astype(np.float32)
    # The checkerboard (std ~127) is smoothed to a near-uniform grey.
    assert original[background].std() > 100 and arr[background].std() < 25
    assert 100 < arr[background].mean() < 155
    # The subject itself is untouched.
    inside = alpha > 0.99
    assert np.abs(arr[inside] - original[inside]).mean() < 3


def test_background_blur_leaves_the_subject_out_of_the_blur():
    """No red halo: just outside the figure the blurred background holds no subject colour."""
    image, matte, alpha = blur_scene()
    arr = np.asarray(open_result(render(image, matte, Options(bg_blur="4%")).data)).astype(int)
    from scipy.ndimage import binary_dilation

    ring = binary_dilation(alpha > 0.01, iterations=6) & ~binary_dilation(
        alpha > 0.01, iterations=2
    )
    r, g, b = arr[ring].mean(axis=0)
    assert abs(r - g) < 12 and abs(r - b) < 12  # grey, not pink


def test_background_blur_of_a_moved_subject_fills_where_it_was():
    image, matte, alpha = blur_scene()
    options = Options(bg_blur="4%", scale="40%", position="0% 100%")
    arr = np.asarray(open_result(render(image, matte, options).data)).astype(int)
    # Where the figure used to be (centre) there is no subject now, and no red either.
    was = alpha > 0.99
    now_free = was.copy()
    now_free[:, :140] = False
    r, g, b = arr[now_free].mean(axis=0)
    assert abs(r - g) < 15 and abs(r - b) < 15


def test_scale_and_position_place_the_subject_on_the_canvas(scene):
    rgb, alpha = scene
    image = DecodedImage.from_pil(Image.fromarray(rgb), "PNG")
    matte = true_matte(alpha)
    left, top, right, bottom = bbox_of(matte.alpha)
    sub_w, sub_h = right - left, bottom - top

    result = render(image, matte, Options(scale="50%"))
    out = np.asarray(open_result(result.data))[..., 3]
    box = bbox_of(out)
    w, h = box[2] - box[0], box[3] - box[1]
    assert out.shape == (240, 320)
    assert abs(max(w / 320, h / 240) - 0.5) < 0.02  # the larger side is half the canvas
    assert abs(w / h - sub_w / sub_h) < 0.05  # aspect kept
    assert abs((box[0] + box[2]) / 2 - 160) <= 2 and abs((box[1] + box[3]) / 2 - 120) <= 2

    out = np.asarray(open_result(render(image, matte, Options(position="100% 0%")).data))[..., 3]
    box = bbox_of(out)
    assert box[2] >= 318 and box[1] <= 2  # against the top-right corner, same size
    assert abs((box[2] - box[0]) - sub_w) <= 2

    options = Options(mode="mask", scale="30%", position="0% 100%")
    out = np.asarray(open_result(render(image, matte, options).data))
    box = bbox_of(out)
    assert box[0] <= 2 and box[3] >= 238  # the matte moves too


def test_scale_is_relative_to_the_cropped_canvas(scene):
    rgb, alpha = scene
    image = DecodedImage.from_pil(Image.fromarray(rgb), "PNG")
    result = render(image, true_matte(alpha), Options(crop=True, scale="80%"))
    out = np.asarray(open_result(result.data))[..., 3]
    box = bbox_of(out)
    assert abs(max((box[2] - box[0]) / out.shape[1], (box[3] - box[1]) / out.shape[0]) - 0.8) < 0.03


@pytest.mark.parametrize("kind", ["natural", "drop", "contact"])
def test_shadow_types(scene, kind):
    rgb, alpha = scene
    image = DecodedImage.from_pil(Image.fromarray(rgb), "PNG")
    matte = true_matte(alpha)
    options = Options(
        mode="shadow", shadow_type=kind, shadow_opacity=0.8, shadow_offset_x="15%", bg_color="white"
    )
    arr = np.asarray(open_result(render(image, matte, options).data).convert("L")).astype(int)
    left, top, right, bottom = bbox_of(matte.alpha)
    under = arr[bottom : bottom + 4, left + 5 : right - 5].mean()  # just below the base
    beside = arr[top + 10 : bottom - 10, right + 2 : right + 8].mean()  # right of the subject
    if kind == "contact":
        assert under < 235 and beside > 250
    elif kind == "drop":
        assert beside < 235
    else:
        assert under < 235 and beside < 250


def test_semitransparency_false_hardens_the_matte(scene_image):
    ramp = np.tile(np.linspace(0, 255, 320).astype(np.uint8), (240, 1))
    matte = Matte(ramp, 0.5, "fast", ("u2netp",))
    soft = np.asarray(open_result(render(scene_image, matte, Options()).data))[..., 3]
    hard = np.asarray(
        open_result(render(scene_image, matte, Options(semitransparency=False)).data)
    )[..., 3]
    partial = lambda a: float(((a > 0) & (a < 255)).mean())  # noqa: E731
    assert partial(soft) > 0.95 and partial(hard) < 0.3
    assert hard[0, 20] == 0 and hard[0, 300] == 255


def test_megapixel_sizes_keep_the_aspect_under_the_budget(scene_image, scene_matte):
    result = render(scene_image, scene_matte, Options(size="0.02mp"))
    assert result.width * result.height <= 20_000
    assert abs(result.width / result.height - 320 / 240) < 0.02
    assert result.width >= 160  # as large as the budget allows (163x122)
    full = render(scene_image, scene_matte, Options(size="1.5mp"))
    assert (full.width, full.height) == (320, 240)  # never upscales


@pytest.mark.parametrize(
    ("size", "preview"),
    [
        ("preview", True),
        ("0.25mp", True),
        ("0.1mp", True),
        (500, True),
        ("small", False),
        ("1.5mp", False),
        ("full", False),
        (501, False),
    ],
)
def test_what_counts_as_a_preview(size, preview):
    assert Options(size=size).is_preview is preview


@pytest.mark.parametrize("colour", [(255, 255, 255), (0, 0, 0), (200, 30, 30), (30, 120, 220)])
def test_a_solid_colour_has_no_foreground(model_dir, colour):
    image = DecodedImage.from_pil(Image.new("RGB", (320, 240), colour), "PNG")
    matte = compute_matte(image, pipeline="fast", model_dir=model_dir)
    assert not foreground_found(matte)
    with pytest.raises(NoForeground) as caught:
        require_foreground(matte)
    assert caught.value.code == "unknown_foreground"


def test_a_gradient_has_no_foreground(model_dir):
    y = np.linspace(0, 255, 240)[:, None, None]
    gradient = np.broadcast_to(np.concatenate([y, y * 0.5, 255 - y], axis=2), (240, 320, 3))
    image = DecodedImage.from_pil(Image.fromarray(gradient.astype(np.uint8)), "PNG")
    assert not foreground_found(compute_matte(image, pipeline="fast", model_dir=model_dir))


@pytest.mark.parametrize("scale", [1.0, 0.3])
def test_a_scene_with_a_subject_has_a_foreground(model_dir, scale):
    rgb, _ = subject_scene(320, 240, seed=5, scale=scale)
    image = DecodedImage.from_pil(Image.fromarray(rgb), "PNG")
    matte = compute_matte(image, pipeline="fast", model_dir=model_dir)
    assert foreground_found(matte)
    require_foreground(matte)  # no error


def test_process_renders_onto_background_bytes(scene_png, model_dir):
    bg = encode(Image.new("RGB", (40, 30), (0, 90, 0)), "PNG")
    result = process(scene_png, Options(bg_image="g", pipeline="fast"), background=bg)
    arr = np.asarray(Image.open(io.BytesIO(result.data)))
    assert arr[2, 2].tolist() == [0, 90, 0]


def test_a_watermark_marks_the_subject_and_the_transparent_parts() -> None:
    rgb, alpha = subject_scene(240, 160, seed=3)
    image = DecodedImage.from_pil(Image.fromarray(rgb), "PNG")
    matte = true_matte(alpha)
    clean = np.asarray(open_result(render(image, matte, Options()).data))
    marked = np.asarray(open_result(render(image, matte, Options(watermark=True)).data))
    assert clean.shape == marked.shape == (160, 240, 4)
    outside = clean[..., 3] == 0
    assert marked[..., 3][outside].max() > 60  # the mark shows on transparent parts
    inside = clean[..., 3] == 255
    assert (
        np.abs(marked[inside, :3].astype(int) - clean[inside, :3]).max(axis=1) > 20
    ).mean() > 0.03
    jpeg = open_result(render(image, matte, Options(watermark=True, format="jpeg", size=120)).data)
    assert jpeg.mode == "RGB" and max(jpeg.size) == 120
