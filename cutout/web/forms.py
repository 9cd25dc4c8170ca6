"""Forms of the web app: cutout options (upload and re-render) and the library filters.

The options form speaks the words people use on the page (transparent, mask, white, colour,
crop, shadow) and turns them into :class:`cutout.engine.Options`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone

from cutout import engine
from cutout.cutouts.engine_settings import default_pipeline

STYLE_CHOICES = (
    ("transparent", "Transparent"),
    ("mask", "Mask"),
    ("white", "White"),
    ("color", "Colour"),
    ("crop", "Crop"),
    ("shadow", "Shadow"),
)
# The re-render form's backgrounds besides a colour: a picture (a preset or the user's own) and
# a blur of the photo's own background. Both are free versions of the stored matte.
BACKGROUND_STYLES = (("photo", "Picture"), ("blur", "Blur"))
BLUR_CHOICES = (("1%", "Light"), ("2%", "Medium"), ("4%", "Strong"))
UPLOADED = "upload"  # the bg_preset value of the user's own picture
FORMAT_CHOICES = (
    ("png", "PNG"),
    ("jpeg", "JPG"),
    ("webp", "WebP"),
    ("avif", "AVIF"),
    ("zip", "ZIP (colour JPG + alpha PNG)"),
)
SIZE_CHOICES = (
    ("full", "Full size"),
    ("large", "2048 px"),
    ("medium", "1024 px"),
    ("small", "512 px"),
    ("preview", "256 px"),
)
# The upload form's quality choice: one per engine pipeline, each with what it is good for.
QUALITY_CHOICES = tuple((name, name.capitalize()) for name in engine.PIPELINE_NAMES)
QUALITY_HINTS = {"fast": "quickest", "balanced": "sharper edges", "best": "finest edges, slowest"}
# Colour presets beside the colour picker: studio greys, warm and cool tints, brand-ish blues.
COLOUR_PRESETS = (
    ("#f3f4f6", "Light grey"),
    ("#1f2937", "Charcoal"),
    ("#fde8d7", "Peach"),
    ("#fef3c7", "Cream"),
    ("#dcfce7", "Mint"),
    ("#dbeafe", "Sky"),
    ("#4f46e5", "Indigo"),
    ("#e11d48", "Red"),
)
HEX_COLOUR = r"^#[0-9a-fA-F]{6}$"
# The page's name and the download's file extension of each output format.
FORMAT_LABELS = {"png": "PNG", "jpeg": "JPG", "webp": "WebP", "avif": "AVIF", "zip": "ZIP"}
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "avif": "avif", "zip": "zip"}


class OptionsForm(forms.Form):
    colour_presets = COLOUR_PRESETS
    style = forms.ChoiceField(
        label="Mode", choices=STYLE_CHOICES, initial="transparent", widget=forms.RadioSelect
    )
    bg_color = forms.RegexField(
        label="Background colour",
        regex=HEX_COLOUR,
        initial="#4f46e5",
        required=False,
        widget=forms.TextInput(attrs={"type": "color"}),
        error_messages={"invalid": "Pick a colour such as #4f46e5."},
    )
    format = forms.ChoiceField(label="Format", choices=FORMAT_CHOICES, initial="png")
    size = forms.ChoiceField(label="Size", choices=SIZE_CHOICES, initial="full")
    crop = forms.BooleanField(label="Crop to the subject", required=False)
    crop_margin = forms.IntegerField(
        label="Margin (%)", min_value=0, max_value=50, initial=0, required=False
    )
    # Only the upload form shows it (a re-render reuses the stored matte: no model runs).
    quality = forms.ChoiceField(
        label="Quality", choices=QUALITY_CHOICES, required=False, widget=forms.RadioSelect
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["quality"].initial = default_pipeline()  # read when the form is made

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        style = data.get("style")
        if style == "mask" and data.get("format") == "zip":
            self.add_error(
                "format", "A mask is one greyscale image: choose PNG, JPG, WebP or AVIF."
            )
        return data

    def engine_options(self, *, pipeline: str | None = None) -> engine.Options:
        """The engine options the cleaned form asks for. Raises engine.InvalidOption."""
        data = self.cleaned_data
        style = data["style"]
        kwargs: dict[str, Any] = {
            "format": data["format"],
            "size": data["size"],
            "pipeline": pipeline or data.get("quality") or default_pipeline(),
        }
        crop = bool(data.get("crop"))
        if style == "transparent":
            kwargs["mode"] = "transparent"
        elif style == "mask":
            kwargs["mode"] = "mask"
        elif style == "white":
            kwargs.update(mode="background", bg_color="#ffffff")
        elif style == "color":
            kwargs.update(mode="background", bg_color=data.get("bg_color") or "#4f46e5")
        elif style == "crop":
            kwargs["mode"] = "transparent"
            crop = True
        elif style == "shadow":
            kwargs["mode"] = "shadow"
        if crop:
            kwargs["crop"] = True
            margin = data.get("crop_margin") or 0
            kwargs["crop_margin"] = f"{margin}%"
        return engine.Options(**kwargs)


class RerenderForm(OptionsForm):
    """The options form of a result's free re-render: the upload's modes, and backgrounds of a
    picture (a preset, or a file the user sends: ``bg_file``) or a blur of the photo's own."""

    bg_preset = forms.ChoiceField(label="Background picture", required=False, choices=())
    bg_file = forms.FileField(label="Your picture", required=False)
    bg_blur = forms.ChoiceField(
        label="Blur", choices=BLUR_CHOICES, initial="2%", required=False, widget=forms.RadioSelect
    )

    def __init__(self, *args: Any, presets: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.presets = list(presets)
        style = self.fields["style"]
        assert isinstance(style, forms.ChoiceField)
        style.choices = [*STYLE_CHOICES, *BACKGROUND_STYLES]
        preset = self.fields["bg_preset"]
        assert isinstance(preset, forms.ChoiceField)
        preset.choices = [(p.name, p.label) for p in self.presets] + [(UPLOADED, "Your picture")]
        if self.presets:
            preset.initial = self.presets[0].name

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("style") == "photo":
            choice = data.get("bg_preset") or (UPLOADED if data.get("bg_file") else "")
            if not choice:
                self.add_error("bg_preset", "Choose a background picture.")
            elif choice == UPLOADED and not data.get("bg_file"):
                self.add_error("bg_file", "Choose a picture file to put behind the subject.")
            data["bg_preset"] = choice
        return data

    def engine_options(self, *, pipeline: str | None = None) -> engine.Options:
        options = super().engine_options(pipeline=pipeline)
        style = self.cleaned_data["style"]
        if style == "blur":
            blur = self.cleaned_data.get("bg_blur") or "2%"
            return dataclasses.replace(options, mode="background", bg_blur=blur)
        if style == "photo":
            # bg_image is set to the picture's hash when the picture is given to the version.
            return dataclasses.replace(options, mode="background")
        return options


def style_of(options: dict[str, Any]) -> str:
    """The page's word for stored engine options (the inverse of ``engine_options``)."""
    mode = options.get("mode", "transparent")
    colour = str(options.get("bg_color") or "").lower()
    if options.get("bg_image"):
        return "photo"
    if str(options.get("bg_blur") or "0") not in ("0", "0%", "0px"):
        return "blur"
    if mode == "background":
        return "white" if colour in ("#ffffff", "#fff", "white") else "color"
    if mode == "transparent" and options.get("crop"):
        return "crop"
    return str(mode)


def initial_from(options: dict[str, Any]) -> dict[str, Any]:
    """Initial form values that reproduce stored engine options (a picture is not kept in the
    form: the presets' first is offered again)."""
    style = style_of(options)
    blur = str(options.get("bg_blur") or "")
    colour = str(options.get("bg_color") or "")
    margin = str(options.get("crop_margin") or "0").rstrip("%")
    return {
        "style": style,
        "bg_color": colour if style == "color" and len(colour) == 7 else "#4f46e5",
        "format": options.get("format", "png"),
        "size": options.get("size", "full") if isinstance(options.get("size"), str) else "full",
        "crop": bool(options.get("crop")) and style != "crop",
        "crop_margin": int(margin) if margin.isdigit() else 0,
        "bg_blur": blur if blur in dict(BLUR_CHOICES) else "2%",
    }


DATE_CHOICES = (
    ("", "Any time"),
    ("today", "Today"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
)
MODE_FILTER_CHOICES = (("", "All modes"), *STYLE_CHOICES)


class LibraryFilterForm(forms.Form):
    date = forms.ChoiceField(label="Date", choices=DATE_CHOICES, required=False)
    mode = forms.ChoiceField(label="Mode", choices=MODE_FILTER_CHOICES, required=False)
    member = forms.ChoiceField(label="Member", choices=(("", "Everyone"),), required=False)

    def __init__(self, *args: Any, members: list[tuple[str, str]] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        field = self.fields["member"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "Everyone"), *(members or []), ("api", "API keys")]

    def since(self) -> Any:
        value = self.cleaned_data.get("date") if self.is_valid() else ""
        now = timezone.localtime()
        if value == "today":
            return now.replace(hour=0, minute=0, second=0, microsecond=0)
        if value == "7d":
            return now - timedelta(days=7)
        if value == "30d":
            return now - timedelta(days=30)
        return None
