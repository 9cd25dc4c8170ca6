"""remove.bg API v1.0 dialect: ``POST /v1.0/removebg``.

Input as multipart/form-data, application/x-www-form-urlencoded or JSON: exactly one of
``image_file``, ``image_file_b64``, ``image_url``; options ``size`` (preview/small/regular = 0.25 MP
and free, medium = 1.5 MP, hd = 4 MP, full/4k/auto/50MP = original, which the input cap keeps at
25 MP), ``type`` (echoed in ``X-Type``; ``auto`` answers ``other``; ``type_level=none`` leaves the
header out), ``format`` (auto/png/jpg/webp/zip), ``channels`` (rgba/alpha), ``crop``,
``crop_margin`` (px or %, 1/2/4 values), ``scale``, ``position``, a background: ``bg_color``
(hex with or without ``#``, or a colour name), ``bg_image_file`` or ``bg_image_url`` (scaled to
cover the canvas), ``shadow_type`` (``none``, ``drop``; ``3D``/``car``/``auto``/``natural`` draw
our natural shadow) with ``shadow_opacity`` 0-100 and the older ``add_shadow``;
``semitransparency=false`` hardens the matte; ``roi`` ("x1 y1 x2 y2" in px or %: only its inside
can be foreground, a box hint of guided refinement); ``type_level`` and ``shadow_method`` are
accepted.

Header ``X-Api-Key`` (or ``Authorization: Bearer``). The image comes back as the body, or as
``{"data": {"result_b64", "foreground_top", "foreground_left", "foreground_width",
"foreground_height"}}`` with ``Accept: application/json``; headers ``X-Type``, ``X-Width``,
``X-Height``, ``X-Credits-Charged``, ``X-Foreground-Top/Left/Width/Height``.
Errors: ``{"errors": [{"title", "code", "detail"?}]}`` with 400, 402, 403 or 429; a bad option's
code is remove.bg's own (``invalid_size``, ``invalid_scale``, ``multiple_bg_sources``...).

``GET /v1.0/account`` answers remove.bg's ``{"data": {"attributes": {"credits": {...}, "api":
{...}}}}`` with the workspace's available credits.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.datastructures import MultiValueDict

from billing.selectors import balance_for
from cutout import engine
from cutout.api import common
from cutout.api.errors import ApiError
from cutout.cutouts.engine_settings import default_pipeline

# size -> megapixels of the longest acceptable output (None: original resolution)
SIZES: dict[str, float | None] = {
    "preview": 0.25,
    "small": 0.25,
    "regular": 0.25,
    "medium": 1.5,
    "hd": 4.0,
    "full": None,
    "4k": None,
    "auto": None,
    "50mp": None,
}
TYPES = ("auto", "person", "product", "car", "animal", "graphic", "transportation", "other")
FORMATS = ("auto", "png", "jpg", "jpeg", "webp", "zip")
CHANNELS = ("rgba", "alpha")
TYPE_LEVELS = ("none", "1", "2", "latest", "")
# shadow_type -> the engine's shadow (None: no shadow). remove.bg's current list is not in any
# copy we could read (docs/api.md); these are the values its clients are seen sending.
SHADOW_TYPES: dict[str, str | None] = {
    "none": None,
    "drop": "drop",
    "natural": "natural",
    "3d": "natural",
    "car": "natural",
    "auto": "natural",
}
# An invalid option's field -> remove.bg's error code for it.
FIELD_CODES = {
    name: f"invalid_{name}"
    for name in (
        "size",
        "format",
        "channels",
        "crop_margin",
        "scale",
        "position",
        "bg_color",
        "semitransparency",
        "roi",
        "bg_image_url",
    )
}
DEFAULT_ROI = {"", "0% 0% 100% 100%", "0 0 100% 100%"}
_HEX = re.compile(r"[0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8}")

# kind -> (status, code, title)
ERRORS: dict[str, tuple[int, str, str]] = {
    "unauthenticated": (403, "auth_failed", "Invalid or missing API Key"),
    "forbidden": (403, "auth_failed", "Forbidden"),
    "missing_image": (400, "missing_source", "No image given"),
    "multiple_images": (400, "multiple_sources", "Multiple image sources given"),
    "invalid_parameter": (400, "invalid_parameter", "Invalid parameter"),
    "file_too_large": (400, "file_too_large", "File too large"),
    "request_too_large": (413, "file_too_large", "Request too large"),
    "unsupported_format": (400, "invalid_file_type", "Unsupported image format"),
    "invalid_image": (400, "failed_to_read_image", "Failed to read image"),
    "image_too_small": (400, "resolution_too_low", "Input image resolution too low"),
    "image_too_large": (400, "resolution_too_high", "Input image resolution too high"),
    "unknown_foreground": (400, "unknown_foreground", "Could not identify foreground in image"),
    "fetch_failed": (400, "failed_image_download", "Failed to download image from URL"),
    "insufficient_credits": (402, "insufficient_credits", "Insufficient credits"),
    "monthly_cap_exceeded": (
        402,
        "insufficient_credits",
        "Monthly credit cap of this API key reached",
    ),
    "rate_limited": (429, "rate_limit_exceeded", "Rate limit exceeded"),
    "not_found": (404, "not_found", "Not found"),
    "method_not_allowed": (405, "method_not_allowed", "Method not allowed"),
    "conflict": (409, "conflict", "Request in progress"),
    "unavailable": (503, "service_unavailable", "Service temporarily unavailable"),
    "internal": (500, "internal_error", "Internal server error"),
}


class RemoveBg(common.Dialect):
    name = "removebg"
    auth_headers = ("X-Api-Key",)

    def error_response(self, request: HttpRequest, error: ApiError) -> HttpResponse:
        status, code, title = ERRORS[error.kind]
        if error.kind == "invalid_parameter":
            code = error.extra.get("removebg_code") or FIELD_CODES.get(error.field or "", code)
        elif error.kind == "fetch_failed" and error.field == "bg_image_url":
            code, title = "failed_bg_download", "Failed to download background image from URL"
        item: dict[str, Any] = {"title": title, "code": code}
        detail = error.message if error.message != title else ""
        if detail:
            item["detail"] = detail
        return JsonResponse({"errors": [item]}, status=status)


DIALECT = RemoveBg()


def _text(params: dict[str, Any], name: str, default: str = "") -> str:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _choice(params: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = _text(params, name, default).lower() or default
    if value not in allowed:
        raise ApiError(
            "invalid_parameter",
            f"{name}={value!r} is not supported: use one of {', '.join(a for a in allowed if a)}.",
            field=name,
        )
    return value


def _bg_color(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if _HEX.fullmatch(value):
        return "#" + value
    return value


def size_for(size: str) -> str:
    """remove.bg sizes are megapixel budgets, which the engine takes as they are (``0.25mp``):
    a 0.25 MP preview is free whatever the input's size."""
    megapixels = SIZES[size]
    return "full" if megapixels is None else f"{megapixels:g}mp"


def _shadow(params: dict[str, Any]) -> tuple[str | None, float]:
    """(engine shadow type or None, opacity 0..1) from shadow_type/shadow_opacity/add_shadow."""
    given = _text(params, "shadow_type")
    if given:
        kind = SHADOW_TYPES.get(given.lower(), "?")
        if kind == "?":
            raise ApiError(
                "invalid_parameter",
                f"shadow_type={given!r} is not supported: use none, drop, natural, 3D, car or auto.",
                field="shadow_type",
            )
    elif common.parse_bool(_text(params, "add_shadow", "false"), field="add_shadow"):
        kind = "natural"
    else:
        kind = None
    opacity_text = _text(params, "shadow_opacity").lower()
    if opacity_text in ("", "auto"):
        return kind, 0.5
    try:
        opacity = float(opacity_text)
    except ValueError:
        opacity = -1.0
    if not 0.0 <= opacity <= 100.0:
        raise ApiError(
            "invalid_parameter",
            "shadow_opacity must be 0 to 100 (or auto).",
            field="shadow_opacity",
        )
    return kind, opacity / 100.0


def build_options(
    params: dict[str, Any], *, background: bool = False
) -> tuple[engine.Options, str | None]:
    """The engine's options and the ``X-Type`` to answer (None: no header)."""
    size = _choice(params, "size", tuple(SIZES), "preview")
    kind = _choice(params, "type", TYPES, "auto")
    type_level = _choice(params, "type_level", TYPE_LEVELS, "")
    _text(params, "shadow_method")  # removed by remove.bg in 2021; old clients still send it
    fmt = _choice(params, "format", FORMATS, "auto")
    channels = _choice(params, "channels", CHANNELS, "rgba")
    crop = common.parse_bool(_text(params, "crop", "false"), field="crop")
    shadow, opacity = _shadow(params)
    semi = common.parse_bool(_text(params, "semitransparency", "true"), field="semitransparency")
    crop_margin = _text(params, "crop_margin", "0") or "0"
    bg_color = _bg_color(_text(params, "bg_color"))
    if bg_color is not None and background:
        raise ApiError(
            "invalid_parameter",
            "Please provide either the bg_color, the bg_image_url or the bg_image_file parameter.",
            field="bg_color",
            extra={"removebg_code": "multiple_bg_sources"},
        )
    scale = _text(params, "scale", "original") or "original"
    position = _text(params, "position") or ("center" if scale != "original" else "original")

    if channels == "alpha":
        mode = "mask"
        out_format = "png" if fmt in ("auto", "png", "zip") else fmt
        out_channels: str | None = "alpha"
        bg_color = None
    else:
        mode = "shadow" if shadow else "transparent"
        out_channels = None
        opaque = background
        if bg_color is not None:
            opaque = engine.parse_color(bg_color)[3] == 255
        if fmt == "auto":
            out_format = "jpeg" if opaque else "png"
        else:
            out_format = "jpeg" if fmt == "jpg" else fmt
        if out_format == "jpeg":
            out_channels = "rgb"
    options = engine.Options(
        mode=mode,
        format=out_format,
        channels=out_channels,
        bg_color=bg_color,
        size=size_for(size),
        crop=crop,
        crop_margin=crop_margin,
        scale=scale,
        position=position,
        semitransparency=semi,
        shadow_type=shadow or "natural",
        shadow_opacity=opacity,
        pipeline=default_pipeline(),
    )
    if type_level == "none":
        return options, None
    return options, ("other" if kind == "auto" else kind)


def read_background(params: dict[str, Any], files: MultiValueDict[str, Any]) -> bytes | None:
    """The bytes of ``bg_image_file`` or ``bg_image_url`` (at most one), or None."""
    upload = files.get("bg_image_file")
    url = _text(params, "bg_image_url")
    if upload is not None and url:
        raise ApiError(
            "invalid_parameter",
            "Please provide either the bg_color, the bg_image_url or the bg_image_file parameter.",
            field="bg_image_url",
            extra={"removebg_code": "multiple_bg_sources"},
        )
    if upload is not None:
        max_bytes = int(settings.CUTOUT_MAX_UPLOAD_BYTES)
        return common.read_upload(upload, max_bytes=max_bytes, what="background image")
    if url:
        return common.fetch_background(url, field="bg_image_url")
    return None


def read_source(params: dict[str, Any], files: MultiValueDict[str, Any]) -> tuple[bytes, str]:
    max_bytes = int(settings.CUTOUT_MAX_UPLOAD_BYTES)
    upload = files.get("image_file")
    b64 = _text(params, "image_file_b64")
    url = _text(params, "image_url")
    given = [
        name
        for name, value in (("image_file", upload), ("image_file_b64", b64), ("image_url", url))
        if value
    ]
    if not given:
        raise ApiError(
            "missing_image",
            "Send one of image_file, image_file_b64 or image_url.",
            field="image_file",
        )
    if len(given) > 1:
        raise ApiError(
            "multiple_images",
            f"Send only one image source, not {' and '.join(given)}.",
            field=given[1],
        )
    if upload is not None:
        return common.read_upload(upload, max_bytes=max_bytes), upload.name or ""
    if b64:
        return common.decode_b64(b64, max_bytes=max_bytes, field="image_file_b64"), ""
    return common.fetch_url(url, max_bytes=max_bytes)


def wants_json(request: HttpRequest) -> bool:
    """JSON only when ``Accept`` prefers it to images (remove.bg's own axios sample sends
    ``application/json, text/plain, */*`` and saves the body as ``no-bg.png``)."""
    return common.prefers_json(request, ("image/png", "image/jpeg", "image/webp"))


@common.api_view(DIALECT, methods=("GET",))
def account(request: HttpRequest) -> HttpResponse:
    """``GET /v1.0/account``: remove.bg's balance shape, for client libraries that check it.

    Every Cutout credit is bought (or granted), so all of them are reported as pay-as-you-go;
    there are no subscription credits and no free calls.
    """
    available = balance_for(common.api_workspace_key(request).workspace).available
    return JsonResponse(
        {
            "data": {
                "attributes": {
                    "credits": {
                        "total": available,
                        "subscription": 0,
                        "payg": available,
                        "enterprise": 0,
                    },
                    "api": {"free_calls": 0, "sizes": "all"},
                }
            }
        }
    )


@common.api_view(DIALECT)
def removebg(request: HttpRequest) -> HttpResponse:
    params, files = common.request_params(request)
    data, name = read_source(params, files)
    common.peek_image(data)  # a clear error for a file that is not an image, before anything
    background = read_background(params, files)
    options, kind = build_options(params, background=background is not None)
    roi = _text(params, "roi")
    cutout = common.run_cutout(
        request,
        DIALECT,
        data=data,
        options=options,
        input_name=name,
        background=background,
        roi=None if roi in DEFAULT_ROI else roi,
    )
    box = cutout.metadata.get("bbox") or {}
    fg = {
        "foreground_top": int(box.get("top", 0)),
        "foreground_left": int(box.get("left", 0)),
        "foreground_width": int(box.get("width", 0)),
        "foreground_height": int(box.get("height", 0)),
    }
    result = common.read_result(cutout)
    if wants_json(request):
        response: HttpResponse = JsonResponse(
            {"data": {"result_b64": base64.b64encode(result).decode("ascii"), **fg}}
        )
    else:
        response = HttpResponse(result, content_type=cutout.result_content_type)
        ext = str(cutout.result.name).rsplit(".", 1)[-1]
        response["Content-Disposition"] = f'inline; filename="no-bg.{ext}"'
    if kind is not None:
        response["X-Type"] = kind
    response["X-Width"] = str(cutout.result_width)
    response["X-Height"] = str(cutout.result_height)
    response["X-Foreground-Top"] = str(fg["foreground_top"])
    response["X-Foreground-Left"] = str(fg["foreground_left"])
    response["X-Foreground-Width"] = str(fg["foreground_width"])
    response["X-Foreground-Height"] = str(fg["foreground_height"])
    common.credit_headers(response, cutout)
    return response
