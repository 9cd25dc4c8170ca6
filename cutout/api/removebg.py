"""remove.bg API v1.0 dialect: ``POST /v1.0/removebg``.

Input as multipart/form-data, application/x-www-form-urlencoded or JSON: exactly one of
``image_file``, ``image_file_b64``, ``image_url``; options ``size`` (preview/small/regular = 0.25 MP,
medium = 1.5 MP, hd = 4 MP, full/4k/auto/50MP = original), ``type`` (echoed in ``X-Type``;
``auto`` answers ``other``), ``format`` (auto/png/jpg/webp/zip), ``channels`` (rgba/alpha),
``crop``, ``crop_margin`` (px or %, 1/2/4 values), ``bg_color`` (hex with or without ``#``, or a
colour name), ``add_shadow``; ``type_level``, ``semitransparency`` and the default values of
``roi``, ``scale`` and ``position`` are accepted; other values of those, and background images,
are refused with a clear error rather than silently ignored.

Header ``X-Api-Key`` (or ``Authorization: Bearer``). The image comes back as the body, or as
``{"data": {"result_b64", "foreground_top", "foreground_left", "foreground_width",
"foreground_height"}}`` with ``Accept: application/json``; headers ``X-Type``, ``X-Width``,
``X-Height``, ``X-Credits-Charged``, ``X-Foreground-Top/Left/Width/Height``.
Errors: ``{"errors": [{"title", "code", "detail"?}]}`` with 400, 402, 403 or 429.

``GET /v1.0/account`` answers remove.bg's ``{"data": {"attributes": {"credits": {...}, "api":
{...}}}}`` with the workspace's available credits.
"""

from __future__ import annotations

import base64
import math
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
    "unsupported_format": (400, "invalid_image_format", "Unsupported image format"),
    "invalid_image": (400, "failed_to_read_image", "Failed to read image"),
    "image_too_small": (400, "resolution_too_low", "Input image resolution too low"),
    "image_too_large": (400, "resolution_too_high", "Input image resolution too high"),
    "unknown_foreground": (400, "unknown_foreground", "Could not identify foreground in image"),
    "fetch_failed": (400, "failed_to_download_image", "Failed to download image from URL"),
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


def max_side_for(size: str, width: int, height: int) -> int | str:
    """remove.bg sizes are megapixel caps; the engine wants a longest side."""
    megapixels = SIZES[size]
    if megapixels is None or width * height <= megapixels * 1_000_000:
        return "full"
    scale = math.sqrt(megapixels * 1_000_000 / (width * height))
    return max(32, math.floor(max(width, height) * scale))


def build_options(params: dict[str, Any], info: common.ImageInfo) -> tuple[engine.Options, str]:
    size = _choice(params, "size", tuple(SIZES), "preview")
    kind = _choice(params, "type", TYPES, "auto")
    _choice(params, "type_level", TYPE_LEVELS, "")
    fmt = _choice(params, "format", FORMATS, "auto")
    channels = _choice(params, "channels", CHANNELS, "rgba")
    crop = common.parse_bool(_text(params, "crop", "false"), field="crop")
    shadow = common.parse_bool(_text(params, "add_shadow", "false"), field="add_shadow")
    common.parse_bool(_text(params, "semitransparency", "true"), field="semitransparency")
    crop_margin = _text(params, "crop_margin", "0") or "0"
    bg_color = _bg_color(_text(params, "bg_color"))
    if _text(params, "roi") not in DEFAULT_ROI:
        raise ApiError(
            "invalid_parameter", "roi is not supported: send the whole image.", field="roi"
        )
    if _text(params, "scale", "original").lower() not in ("original", "100%", ""):
        raise ApiError(
            "invalid_parameter", "scale is not supported (only 'original').", field="scale"
        )
    if _text(params, "position", "original").lower() not in ("original", ""):
        raise ApiError(
            "invalid_parameter", "position is not supported (only 'original').", field="position"
        )
    if _text(params, "bg_image_url") or _text(params, "bg_image_file"):
        raise ApiError(
            "invalid_parameter",
            "Background images are not supported: use bg_color.",
            field="bg_image_url",
        )

    if channels == "alpha":
        mode = "mask"
        out_format = "png" if fmt in ("auto", "png", "zip") else fmt
        out_channels: str | None = "alpha"
        bg_color = None
    else:
        mode = "shadow" if shadow else "transparent"
        out_channels = None
        opaque = False
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
        size=max_side_for(size, info.width, info.height),
        crop=crop,
        crop_margin=crop_margin,
        pipeline=default_pipeline(),
    )
    return options, ("other" if kind == "auto" else kind)


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
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and not accept.strip().startswith("image/")


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
    info = common.peek_image(data)
    options, kind = build_options(params, info)
    cutout = common.run_cutout(request, DIALECT, data=data, options=options, input_name=name)
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
    response["X-Type"] = kind
    response["X-Width"] = str(cutout.result_width)
    response["X-Height"] = str(cutout.result_height)
    response["X-Foreground-Top"] = str(fg["foreground_top"])
    response["X-Foreground-Left"] = str(fg["foreground_left"])
    response["X-Foreground-Width"] = str(fg["foreground_width"])
    response["X-Foreground-Height"] = str(fg["foreground_height"])
    common.credit_headers(response, cutout)
    return response
