import pytest

from cutout.engine import InvalidOption, Options, parse_color
from cutout.engine.options import parse_margin


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#fff", (255, 255, 255, 255)),
        ("#FFFFFF", (255, 255, 255, 255)),
        ("#ffffff80", (255, 255, 255, 128)),
        ("#f008", (255, 0, 0, 136)),
        ("81d4fa", (0x81, 0xD4, 0xFA, 255)),
        ("rgb(10, 20, 30)", (10, 20, 30, 255)),
        ("rgba(10, 20, 30, 0.5)", (10, 20, 30, 128)),
        ("rgba(10 20 30 / 50%)", (10, 20, 30, 128)),
        ("rgb(100%, 0%, 0%)", (255, 0, 0, 255)),
        ("white", (255, 255, 255, 255)),
        ("RebeccaPurple", (102, 51, 153, 255)),
        ("transparent", (0, 0, 0, 0)),
    ],
)
def test_parse_color_accepts_css_forms(text, expected):
    assert parse_color(text) == expected


@pytest.mark.parametrize(
    "text", ["", "#ggg", "#12345", "rgb(1,2)", "rgb(300,0,0)", "rgba(1,2,3,2)", "notacolour"]
)
def test_parse_color_rejects_garbage_with_field(text):
    with pytest.raises(InvalidOption) as info:
        parse_color(text)
    assert info.value.code == "invalid_option"
    assert info.value.field == "bg_color"


def test_options_normalise_aliases():
    options = Options(mode="crop", format="JPG", size="Preview", pipeline="FAST")
    assert (options.mode, options.crop, options.format, options.size, options.pipeline) == (
        "transparent",
        True,
        "jpeg",
        "preview",
        "fast",
    )
    assert options.max_side == 256
    assert Options(size=640).max_side == 640
    assert Options(size="full").max_side == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mode": "magic"}, "mode"),
        ({"format": "gif"}, "format"),
        ({"channels": "cmyk"}, "channels"),
        ({"format": "jpeg", "channels": "rgba"}, "channels"),
        ({"mode": "mask", "channels": "rgba"}, "channels"),
        ({"bg_color": "blurple"}, "bg_color"),
        ({"size": "huge"}, "size"),
        ({"size": 8}, "size"),
        ({"crop_margin": "10 20 30"}, "crop_margin"),
        ({"crop_margin": "-5px"}, "crop_margin"),
        ({"crop_margin": "80%"}, "crop_margin"),
        ({"shadow_opacity": 1.5}, "shadow_opacity"),
        ({"shadow_blur": "wide"}, "shadow_blur"),
        ({"pipeline": "turbo"}, "pipeline"),
    ],
)
def test_invalid_options_name_the_field(kwargs, field):
    with pytest.raises(InvalidOption) as info:
        Options(**kwargs)
    assert info.value.field == field
    assert info.value.message


def test_output_channels_follow_mode_and_format():
    assert Options().output_channels == "rgba"
    assert Options(format="jpeg").output_channels == "rgb"
    assert Options(mode="mask").output_channels == "alpha"
    assert Options(mode="background").output_channels == "rgb"
    assert Options(mode="background", bg_color="#0000ff80").output_channels == "rgba"
    assert Options(bg_color="red").output_channels == "rgb"
    assert Options(channels="alpha").output_channels == "alpha"


def test_margin_forms():
    one = parse_margin("10px")
    assert [m.resolve(100) for m in one] == [10, 10, 10, 10]
    two = parse_margin("10% 20px")
    assert [m.resolve(200) for m in two] == [20, 20, 20, 20]
    four = parse_margin("1 2 3 4")
    assert [m.resolve(0) for m in four] == [1, 2, 3, 4]
