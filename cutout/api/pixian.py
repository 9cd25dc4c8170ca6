"""Pixian.AI dialect: ``POST /api/v2/remove-background`` and ``GET /api/v2/account``.

HTTP Basic auth (``-u id:secret``: the secret is a Cutout API key; the id is not checked).
Multipart or urlencoded: exactly one of ``image`` (a file), ``image.url`` (fetched behind the SSRF
guard) or ``image.base64``. Options: ``test`` (free, with a watermark; ``X-Credits-Charged: 0`` and
``X-Credits-Calculated`` the production cost), ``max_pixels`` (100..25,000,000: a larger input is
shrunk to it), ``background.color`` (``#RRGGBB`` and every other colour we read),
``result.crop_to_foreground``, ``result.margin`` (1-4 lengths, px or %), ``output.format``
(auto: PNG, or JPEG when the background is opaque; png; jpeg), ``output.jpeg_quality`` (accepted;
our JPEG writer uses its own quality). Booleans may be written ``True``/``False`` (the SDK does).
``result.target_size`` and ``delta_png`` are refused with a clear 400 rather than ignored
(docs/api.md); ``result.vertical_alignment`` is checked and, without a target size, has no effect.

Errors are Pixian's ``{"error": {"status", "code", "message"}}``; the numeric codes are ours, as
Pixian's table is not published where we could read it (docs/api.md).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from cutout import engine
from cutout.api import common
from cutout.api.errors import ApiError
from cutout.cutouts.engine_settings import default_pipeline

MAX_PIXELS = 25_000_000
MIN_PIXELS = 100
FORMATS = ("auto", "png", "jpeg")
UNSUPPORTED = ("result.target_size",)
ALIGNMENTS = ("top", "middle", "bottom")  # only matters with result.target_size
# kind -> (status, code)
ERRORS: dict[str, tuple[int, int]] = {
    "unauthenticated": (401, 1001),
    "forbidden": (403, 1002),
    "missing_image": (400, 2001),
    "multiple_images": (400, 2002),
    "invalid_parameter": (400, 2003),
    "file_too_large": (400, 2004),
    "request_too_large": (413, 2004),
    "unsupported_format": (400, 2005),
    "invalid_image": (400, 2006),
    "image_too_small": (400, 2007),
    "image_too_large": (400, 2008),
    "unknown_foreground": (400, 2009),
    "fetch_failed": (400, 2010),
    "insufficient_credits": (402, 3001),
    "monthly_cap_exceeded": (402, 3002),
    "rate_limited": (429, 4001),
    "not_found": (404, 4004),
    "method_not_allowed": (405, 4005),
    "conflict": (409, 4009),
    "unavailable": (503, 5003),
    "internal": (500, 5000),
}


class Pixian(common.Dialect):
    name = "pixian"
    auth_headers: tuple[str, ...] = ()  # HTTP Basic (or Bearer), read by cutout.api.auth

    def error_response(self, request: HttpRequest, error: ApiError) -> HttpResponse:
        status, code = ERRORS[error.kind]
        response = JsonResponse(
            {"error": {"status": status, "code": code, "message": error.message}}, status=status
        )
        if status == 401:
            response["WWW-Authenticate"] = 'Basic realm="Cutout"'
        return response


DIALECT = Pixian()


def _text(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    return "" if value is None else str(value).strip()


def _bool(params: dict[str, Any], name: str) -> bool:
    return common.parse_bool(_text(params, name) or "false", field=name)


def read_source(params: dict[str, Any], files: Any) -> tuple[bytes, str]:
    max_bytes = int(settings.CUTOUT_MAX_UPLOAD_BYTES)
    upload = files.get("image")
    url, b64 = _text(params, "image.url"), _text(params, "image.base64")
    given = [n for n, v in (("image", upload), ("image.url", url), ("image.base64", b64)) if v]
    if not given:
        raise ApiError("missing_image", "Send one of image, image.url or image.base64.")
    if len(given) > 1:
        raise ApiError("multiple_images", f"Send only one of {', '.join(given)}.", field=given[1])
    if upload is not None:
        return common.read_upload(upload, max_bytes=max_bytes), upload.name or ""
    if b64:
        return common.decode_b64(b64, max_bytes=max_bytes, field="image.base64"), ""
    return common.fetch_url(url, max_bytes=max_bytes)


def build_options(params: dict[str, Any], info: common.ImageInfo) -> engine.Options:
    for name in UNSUPPORTED:
        if _text(params, name):
            raise ApiError(
                "invalid_parameter", f"{name} is not supported here (docs/api.md).", field=name
            )
    if (_text(params, "result.vertical_alignment") or "middle").lower() not in ALIGNMENTS:
        raise ApiError(
            "invalid_parameter",
            "result.vertical_alignment must be top, middle or bottom.",
            field="result.vertical_alignment",
        )
    fmt = (_text(params, "output.format") or "auto").lower()
    if fmt == "delta_png":
        raise ApiError(
            "invalid_parameter",
            "output.format=delta_png is not supported: use png, jpeg or auto.",
            field="output.format",
        )
    if fmt not in FORMATS:
        raise ApiError(
            "invalid_parameter", f"output.format must be one of {', '.join(FORMATS)}.",
            field="output.format",
        )  # fmt: skip
    quality = _text(params, "output.jpeg_quality") or "75"
    if not quality.isdigit() or not 1 <= int(quality) <= 100:
        raise ApiError(
            "invalid_parameter",
            "output.jpeg_quality must be 1 to 100.",
            field="output.jpeg_quality",
        )
    max_pixels = _text(params, "max_pixels") or str(MAX_PIXELS)
    if not max_pixels.isdigit() or not MIN_PIXELS <= int(max_pixels) <= MAX_PIXELS:
        raise ApiError(
            "invalid_parameter",
            f"max_pixels must be an integer from {MIN_PIXELS} to {MAX_PIXELS}.",
            field="max_pixels",
        )
    colour = _text(params, "background.color") or None
    opaque = colour is not None and engine.parse_color(colour)[3] == 255
    out_format = ("jpeg" if opaque else "png") if fmt == "auto" else fmt
    budget = int(max_pixels)
    size: str = "full" if info.width * info.height <= budget else f"{budget / 1e6:g}mp"
    return engine.Options(
        mode="background" if out_format == "jpeg" else "transparent",
        format=out_format,
        bg_color=colour or ("white" if out_format == "jpeg" else None),
        size=size,
        crop=_bool(params, "result.crop_to_foreground"),
        crop_margin=_text(params, "result.margin") or "0",
        watermark=_bool(params, "test"),
        pipeline=default_pipeline(),
    )


@common.api_view(DIALECT)
def remove_background(request: HttpRequest) -> HttpResponse:
    params, files = common.request_params(request)
    data, name = read_source(params, files)
    info = common.peek_image(data)
    options = build_options(params, info)
    cutout = common.run_cutout(request, DIALECT, data=data, options=options, input_name=name)
    response = HttpResponse(common.read_result(cutout), content_type=cutout.result_content_type)
    common.credit_headers(response, cutout)
    if options.watermark:
        response["X-Credits-Calculated"] = "0" if options.is_preview else "1"
    if cutout.result_width * cutout.result_height < info.width * info.height and not options.crop:
        response["X-Max-Width"] = str(cutout.result_width)
        response["X-Max-Height"] = str(cutout.result_height)
    return response


@common.api_view(DIALECT, methods=("GET",))
def account(request: HttpRequest) -> HttpResponse:
    """``GET /api/v2/account``: the fields Pixian's clients read, from the workspace's balance."""
    available = common.remaining_credits(request)
    return JsonResponse(
        {"creditPack": "Cutout credits", "state": "active", "useBefore": None, "credits": available}
    )
