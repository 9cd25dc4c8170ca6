"""The option list written once: OPTION_FIELDS, OPTION_SPECS, the dict helpers, validate_pipeline."""

from __future__ import annotations

import json

import jsonschema
import pytest

from cutout import engine
from cutout.engine import (
    OPTION_FIELDS,
    OPTION_SPECS,
    InvalidOption,
    Options,
    option_properties,
    options_as_dict,
    options_from_dict,
    validate_pipeline,
)

SAMPLES = [
    Options(),
    Options(mode="crop", format="jpg", size="Preview", pipeline="FAST", bg_color="#123"),
    Options(mode="shadow", shadow_opacity=0.25, shadow_blur=12, shadow_offset_y="-3%", size=640),
    Options(mode="mask", channels="rgb", format="webp", crop=True, crop_margin="5% 10px"),
    Options(format="zip", bg_color="rgba(10, 20, 30, 0.5)", pipeline="balanced"),
]


def test_option_fields_are_the_options_constructor_in_order():
    # Spelled out here on purpose: stored cutouts and API clients depend on these names.
    assert OPTION_FIELDS == (
        "mode",
        "format",
        "channels",
        "bg_color",
        "bg_image",
        "bg_blur",
        "size",
        "crop",
        "crop_margin",
        "scale",
        "position",
        "semitransparency",
        "shadow_type",
        "shadow_opacity",
        "shadow_blur",
        "shadow_offset_x",
        "shadow_offset_y",
        "watermark",
        "pipeline",
    )
    assert list(OPTION_SPECS) == list(OPTION_FIELDS)
    Options(**{name: OPTION_SPECS[name].default for name in OPTION_FIELDS})  # all keywords
    assert "color" not in OPTION_FIELDS and "margin" not in OPTION_FIELDS  # parsed forms


def test_spec_defaults_are_what_options_uses():
    default = Options()
    for name, spec in OPTION_SPECS.items():
        assert spec.default == getattr(default, name), name
    assert OPTION_SPECS["pipeline"].default == engine.DEFAULT_PIPELINE


def test_every_listed_choice_is_accepted_and_others_are_refused():
    for name, spec in OPTION_SPECS.items():
        for choice in spec.choices:
            Options(**{name: choice})  # type: ignore[arg-type]  # raises if a choice were refused
        if spec.choices:
            with pytest.raises(InvalidOption) as info:
                Options(**{name: "no-such-value"})  # type: ignore[arg-type]
            assert info.value.field == name
    assert OPTION_SPECS["pipeline"].choices == tuple(engine.PIPELINES)
    assert set(engine.FORMATS) <= set(OPTION_SPECS["format"].choices)


def test_option_properties_are_a_json_schema_the_defaults_satisfy():
    properties = option_properties()
    assert list(properties) == list(OPTION_FIELDS)
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    jsonschema.Draft202012Validator.check_schema(schema)
    stored = options_as_dict(Options())
    jsonschema.validate({k: v for k, v in stored.items() if v is not None}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"mode": "sideways"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"shadow_opacity": 2}, schema)
    for name, prop in properties.items():
        assert prop["description"], name
    assert json.loads(json.dumps(properties)) == properties


def test_option_properties_take_the_servers_default_pipeline():
    assert option_properties(default_pipeline="fast")["pipeline"]["default"] == "fast"
    assert option_properties()["pipeline"]["default"] == "best"  # no shared state changed


@pytest.mark.parametrize("options", SAMPLES)
def test_options_dict_round_trip(options):
    data = options_as_dict(options)
    assert list(data) == list(OPTION_FIELDS)
    assert json.loads(json.dumps(data)) == data  # plain JSON values only
    assert options_from_dict(data) == options
    assert options_from_dict({**data, "not_an_option": 1, "async": True}) == options


def test_options_from_dict_refuses_a_stale_value():
    with pytest.raises(InvalidOption) as info:
        options_from_dict({"mode": "retired-mode"})
    assert info.value.field == "mode"


def test_validate_pipeline_is_the_one_check():
    assert validate_pipeline(" Best ") == "best"
    assert [validate_pipeline(name) for name in engine.PIPELINE_NAMES] == list(engine.PIPELINES)
    with pytest.raises(InvalidOption) as info:
        validate_pipeline("fastest")
    assert info.value.field == "pipeline"
    assert "fast, balanced, best" in info.value.message
    with pytest.raises(InvalidOption) as info:
        validate_pipeline("nope", field="CUTOUT_DEFAULT_PIPELINE")
    assert info.value.field == "CUTOUT_DEFAULT_PIPELINE"
    assert info.value.message.startswith("CUTOUT_DEFAULT_PIPELINE='nope' is unknown")
    # Options, get_pipeline and preload all refuse through it, with the same field.
    for call in (
        lambda: Options(pipeline="nope"),
        lambda: engine.compute_matte(None, pipeline="nope"),  # type: ignore[arg-type]
        lambda: engine.preload(["nope"]),
    ):
        with pytest.raises(InvalidOption) as info:
            call()
        assert info.value.field == "pipeline"
