import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from cutout.engine import InvalidOption, Matte, Options, render

from .conftest import open_result


def rendered(scene_image, scene_matte, **kwargs):
    result = render(scene_image, scene_matte, Options(pipeline="fast", **kwargs))
    return result, open_result(result.data)


def subject_box(truth):
    ys, xs = np.nonzero(truth > 0.5)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def test_transparent_png(scene_image, scene_matte, scene):
    result, image = rendered(scene_image, scene_matte)
    assert (result.content_type, result.extension) == ("image/png", "png")
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (320, 240)
    arr = np.asarray(image)
    truth = scene[1]
    assert arr[..., 3][truth > 0.99].mean() > 235
    assert arr[0, 0, 3] == 0 and arr[-1, -1, 3] == 0
    assert (arr[..., :3][arr[..., 3] == 0] == 0).all()  # hidden colour is zeroed
    r, g, b, _ = arr[130, 160]
    assert r > 150 and g < 80 and b < 80  # the subject keeps its colour
    meta = result.metadata
    left, top, right, bottom = subject_box(truth)
    box = meta["bbox"]
    assert abs(box["left"] - left) <= 3 and abs(box["top"] - top) <= 3
    assert (
        abs(box["left"] + box["width"] - right) <= 3
        and abs(box["top"] + box["height"] - bottom) <= 3
    )
    assert meta["width"] == 320 and meta["height"] == 240
    assert 0.1 < meta["foreground_coverage"] < 0.3
    assert meta["confidence"] > 0.9
    assert meta["pipeline"] == "fast" and meta["models"] == ["u2netp"]
    assert {"inference", "refine", "compose", "encode"} <= set(meta["timings_ms"])


def test_mask_mode(scene_image, scene_matte):
    _result, image = rendered(scene_image, scene_matte, mode="mask")
    assert image.mode == "L" and image.size == (320, 240)
    assert np.array_equal(np.asarray(image), scene_matte.alpha)
    _, rgb = rendered(scene_image, scene_matte, mode="mask", channels="rgb")
    assert rgb.mode == "RGB"


@pytest.mark.parametrize(
    ("bg", "corner"),
    [
        (None, (255, 255, 255)),
        ("#00f", (0, 0, 255)),
        ("rgb(10, 200, 30)", (10, 200, 30)),
        ("black", (0, 0, 0)),
    ],
)
def test_background_mode_paints_corners(scene_image, scene_matte, bg, corner):
    _, image = rendered(scene_image, scene_matte, mode="background", bg_color=bg)
    assert image.mode == "RGB"
    arr = np.asarray(image).astype(int)
    for y, x in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
        assert np.abs(arr[y, x] - corner).max() <= 2
    r, g, _b = arr[130, 160]
    assert r > 150 and g < 80


def test_translucent_background_keeps_alpha(scene_image, scene_matte):
    _, image = rendered(
        scene_image, scene_matte, mode="background", bg_color="rgba(0, 0, 255, 0.5)"
    )
    arr = np.asarray(image)
    assert image.mode == "RGBA"
    assert abs(int(arr[0, 0, 3]) - 128) <= 1 and arr[0, 0, 2] == 255
    assert arr[130, 160, 3] > 240


def test_crop_is_tighter_and_margin_grows_it(scene_image, scene_matte, scene):
    left, top, right, bottom = subject_box(scene[1])
    result, image = rendered(scene_image, scene_matte, mode="crop")
    assert image.width < 320 and image.height < 240
    assert abs(image.width - (right - left)) <= 4 and abs(image.height - (bottom - top)) <= 4
    assert result.metadata["bbox"]["left"] == 0 and result.metadata["bbox"]["top"] == 0
    _, margin = rendered(scene_image, scene_matte, crop=True, crop_margin="10px")
    assert margin.size == (image.width + 20, image.height + 20)
    assert np.asarray(margin)[0, 0, 3] == 0
    _, pct = rendered(scene_image, scene_matte, crop=True, crop_margin="10%")
    assert pct.height == pytest.approx(image.height * 1.2, abs=2)
    # crop combines with background: a tight white-background JPEG.
    _, jpg = rendered(scene_image, scene_matte, mode="background", crop=True, format="jpeg")
    assert jpg.format == "JPEG" and jpg.size == image.size


def test_crop_margin_can_reach_past_the_image(scene_image, scene_matte):
    _, tight = rendered(scene_image, scene_matte, crop=True)
    _, wide = rendered(scene_image, scene_matte, crop=True, crop_margin="200px")
    assert wide.width == tight.width + 400  # padded with transparency, not clamped
    assert np.asarray(wide)[:, :5, 3].max() == 0


def test_shadow_mode_puts_shadow_below_the_subject(scene_image, scene_matte, scene):
    _left, _top, _right, bottom = subject_box(scene[1])
    _, plain = rendered(scene_image, scene_matte)
    _, shadow = rendered(scene_image, scene_matte, mode="shadow")
    below = slice(bottom + 2, min(240, bottom + 12))
    plain_a = np.asarray(plain)[below, 140:180, 3].astype(int)
    shadow_arr = np.asarray(shadow)
    shadow_a = shadow_arr[below, 140:180, 3].astype(int)
    assert plain_a.max() < 10
    assert shadow_a.mean() > 20  # visible shadow under the subject
    assert shadow_arr[below, 140:180, :3].max() < 60  # and it is dark
    assert np.asarray(shadow)[0, 0, 3] == 0  # far corners stay clear
    _, none = rendered(scene_image, scene_matte, mode="shadow", shadow_opacity=0)
    assert np.asarray(none)[below, 140:180, 3].max() < 10
    _, offset = rendered(
        scene_image, scene_matte, mode="shadow", shadow_offset_x="30px", shadow_opacity=1
    )
    arr = np.asarray(offset)[:, :, 3].astype(int) - np.asarray(plain)[:, :, 3].astype(int)
    ys, xs = np.nonzero(arr > 30)
    assert xs.mean() > 165  # shifted right of the centre line
    _, tight = rendered(scene_image, scene_matte, crop=True)
    _, on_white = rendered(scene_image, scene_matte, mode="shadow", bg_color="white", crop=True)
    assert (
        on_white.mode == "RGB" and on_white.height > tight.height + 4
    )  # the crop makes room for it
    rgb = np.asarray(on_white).astype(int)
    grey_dark = (rgb[..., 0] < 235) & (np.abs(rgb[..., 0] - rgb[..., 1]) < 12)
    ys, _ = np.nonzero(grey_dark)
    assert ys.size and ys.max() > on_white.height * 0.85  # grey shadow at the bottom of the box


@pytest.mark.parametrize(
    ("size", "longest"), [("preview", 256), (100, 100), ("small", 320), ("full", 320)]
)
def test_sizes_bound_the_longest_side_and_never_upscale(scene_image, scene_matte, size, longest):
    result, image = rendered(scene_image, scene_matte, size=size)
    assert max(image.size) == longest
    assert image.width / image.height == pytest.approx(320 / 240, abs=0.02)
    assert (result.width, result.height) == image.size
    assert result.metadata["bbox"]["width"] <= image.width


def test_jpeg_composes_on_white(scene_image, scene_matte):
    result, image = rendered(scene_image, scene_matte, format="jpg")
    assert result.content_type == "image/jpeg" and result.extension == "jpg"
    assert image.format == "JPEG" and image.mode == "RGB"
    assert np.asarray(image)[0, 0].min() > 245
    _, blue = rendered(scene_image, scene_matte, format="jpeg", bg_color="#0000ff")
    r, _g, b = np.asarray(blue)[0, 0]
    assert b > 240 and r < 15


@pytest.mark.parametrize("fmt", ["webp", "avif"])
def test_webp_and_avif_keep_alpha(scene_image, scene_matte, fmt):
    result, image = rendered(scene_image, scene_matte, format=fmt)
    assert result.content_type == f"image/{fmt}"
    assert image.format == fmt.upper() and image.mode == "RGBA"
    arr = np.asarray(image)
    assert arr[0, 0, 3] < 10 and arr[130, 160, 3] > 235


def test_zip_holds_color_jpeg_and_alpha_png(scene_image, scene_matte):
    result, _ = result_and_nothing(scene_image, scene_matte)
    assert result.content_type == "application/zip"
    with zipfile.ZipFile(io.BytesIO(result.data)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        colour = Image.open(io.BytesIO(archive.read("color.jpg")))
        alpha = Image.open(io.BytesIO(archive.read("alpha.png")))
        assert colour.format == "JPEG" and colour.mode == "RGB"
        assert alpha.format == "PNG" and alpha.mode == "L"
        assert colour.size == alpha.size == (320, 240)
        assert np.array_equal(np.asarray(alpha), scene_matte.alpha)
        assert np.asarray(colour)[130, 160, 0] > 150


def result_and_nothing(scene_image, scene_matte):
    return render(scene_image, scene_matte, Options(format="zip", pipeline="fast")), None


def test_channels(scene_image, scene_matte):
    _, alpha = rendered(scene_image, scene_matte, channels="alpha")
    assert alpha.mode == "L" and np.array_equal(np.asarray(alpha), scene_matte.alpha)
    _, rgb = rendered(scene_image, scene_matte, channels="rgb", bg_color="#ff0")
    assert rgb.mode == "RGB" and tuple(np.asarray(rgb)[0, 0]) == (255, 255, 0)
    _, rgba = rendered(scene_image, scene_matte, mode="background", channels="rgba")
    assert rgba.mode == "RGBA" and np.asarray(rgba)[..., 3].min() == 255


def test_render_reuses_a_stored_matte(scene_image, scene_matte):
    from cutout.engine import matte_from_png, matte_to_png

    first = render(
        scene_image, scene_matte, Options(mode="background", format="png", pipeline="fast")
    )
    again = render(
        scene_image,
        matte_from_png(matte_to_png(scene_matte)),
        Options(mode="background", pipeline="fast"),
    )
    assert first.data == again.data


def test_matte_of_another_size_is_refused(scene_image):
    wrong = Matte(np.zeros((10, 10), np.uint8), 0.0, "fast", ("u2netp",))
    with pytest.raises(InvalidOption):
        render(scene_image, wrong, Options())


def test_empty_matte_renders_without_a_subject(scene_image):
    empty = Matte(np.zeros((240, 320), np.uint8), 0.0, "fast", ("u2netp",))
    for options in (Options(crop=True), Options(mode="shadow"), Options(mode="background")):
        result = render(scene_image, empty, options)
        assert result.metadata["bbox"] is None
        assert (result.width, result.height) == (320, 240)
