"""Photoroom Remove Background dialect: ``POST /v1/segment`` and ``GET /v1/account``.

Header ``x-api-key``; multipart ``image_file`` (PNG, JPEG or WebP) with ``format`` (png, jpg,
webp), ``channels`` (rgba, alpha), ``bg_color`` (hex or a colour name), ``size`` (preview =
0.25 MP and free, medium = 1.5 MP, hd = 4 MP, full = the original, which our input cap keeps at
25 MP where Photoroom allows 36), ``crop`` and ``despill`` (``true``/``false``). The image comes
back as the body, or as ``{"base64img": ...}`` when ``Accept`` prefers JSON to images. Header
``x-uncertainty-score``: ``1 - confidence`` of our matte, 0 (sure) to 1 (unsure); Photoroom's
``-1`` for people needs a person detector, which we do not have, so it is never sent.

Errors are Photoroom's flat ``{"detail", "status_code", "type"}`` (the shape its reference gives
for 400 and 402). Sandbox keys (``sandbox_...``: free, watermarked) are not offered: such a key is
refused as unknown (docs/api.md).
"""

from __future__ import annotations

import base64

from django.http import HttpRequest, HttpResponse, JsonResponse

from cutout import engine
from cutout.api import common
from cutout.api.errors import ApiError
from cutout.cutouts.engine_settings import default_pipeline

MB = 1024 * 1024
MAX_BYTES = 30 * MB
ACCEPTED = ("PNG", "JPEG", "WEBP")
FORMATS = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "webp": "webp"}
CHANNELS = ("rgba", "alpha")
SIZES = {"preview": "0.25mp", "medium": "1.5mp", "hd": "4mp", "full": "full"}
# kind -> (status, type)
ERRORS: dict[str, tuple[int, str]] = {
    "unauthenticated": (403, "forbidden"),
    "forbidden": (403, "forbidden"),
    "missing_image": (400, "missing_image"),
    "multiple_images": (400, "invalid_parameter"),
    "invalid_parameter": (400, "invalid_parameter"),
    "file_too_large": (400, "file_too_large"),
    "request_too_large": (413, "file_too_large"),
    "unsupported_format": (400, "unsupported_image_format"),
    "invalid_image": (400, "invalid_image"),
    "image_too_small": (400, "invalid_image"),
    "image_too_large": (400, "image_too_large"),
    "unknown_foreground": (400, "unknown_foreground"),
    "fetch_failed": (400, "invalid_image"),
    "insufficient_credits": (402, "payment_required"),
    "monthly_cap_exceeded": (402, "payment_required"),
    "rate_limited": (429, "rate_limited"),
    "not_found": (404, "not_found"),
    "method_not_allowed": (405, "method_not_allowed"),
    "conflict": (409, "conflict"),
    "unavailable": (503, "service_unavailable"),
    "internal": (500, "unknown_error"),
}


class Photoroom(common.Dialect):
    name = "photoroom"
    auth_headers = ("x-api-key",)

    def max_request_bytes(self) -> int:
        return MAX_BYTES + MB

    def error_response(self, request: HttpRequest, error: ApiError) -> HttpResponse:
        status, kind = ERRORS[error.kind]
        return JsonResponse(
            {"detail": error.message, "status_code": status, "type": kind}, status=status
        )


DIALECT = Photoroom()


def _choice(request: HttpRequest, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = (request.POST.get(name) or default).strip().lower()
    if value not in allowed:
        raise ApiError(
            "invalid_parameter", f"{name} must be one of: {', '.join(allowed)}.", field=name
        )
    return value


def build_options(request: HttpRequest) -> engine.Options:
    fmt = FORMATS[_choice(request, "format", tuple(FORMATS), "png")]
    channels = _choice(request, "channels", CHANNELS, "rgba")
    size = SIZES[_choice(request, "size", tuple(SIZES), "full")]
    crop = common.parse_bool(request.POST.get("crop", "false"), field="crop")
    despill = common.parse_bool(request.POST.get("despill", "false"), field="despill")
    bg_color = (request.POST.get("bg_color") or "").strip() or None
    if (
        bg_color is not None
        and bg_color[0] != "#"
        and all(c in "0123456789abcdefABCDEF" for c in bg_color)
        and len(bg_color) in (3, 6, 8)
    ):
        bg_color = "#" + bg_color
    del despill  # accepted, no effect yet: Cutout has no green-spill suppression (docs/api.md)
    if channels == "alpha":
        return engine.Options(
            mode="mask", format="png" if fmt == "jpeg" else fmt, channels="alpha", size=size,
            crop=crop, pipeline=default_pipeline(),
        )  # fmt: skip
    return engine.Options(
        mode="background" if fmt == "jpeg" else "transparent",
        format=fmt,
        bg_color=bg_color or ("white" if fmt == "jpeg" else None),
        size=size,
        crop=crop,
        pipeline=default_pipeline(),
    )


@common.api_view(DIALECT)
def segment(request: HttpRequest) -> HttpResponse:
    upload = request.FILES.get("image_file")
    if upload is None:
        raise ApiError("missing_image", "Please provide an image.", field="image_file")
    options = build_options(request)
    data = common.read_upload(upload, max_bytes=MAX_BYTES)
    info = common.peek_image(data)
    if info.format not in ACCEPTED:
        raise ApiError(
            "unsupported_format",
            f"{info.format or 'This'} images are not supported: send PNG, JPEG or WebP.",
            field="image_file",
        )
    cutout = common.run_cutout(
        request, DIALECT, data=data, options=options, input_name=upload.name or ""
    )
    result = common.read_result(cutout)
    if common.prefers_json(request, ("image/png", "image/jpeg", "image/webp")):
        response: HttpResponse = JsonResponse(
            {"base64img": base64.b64encode(result).decode("ascii")}
        )
    else:
        response = HttpResponse(result, content_type=cutout.result_content_type)
    confidence = cutout.metadata.get("confidence")
    if isinstance(confidence, int | float):
        response["x-uncertainty-score"] = f"{max(0.0, min(1.0, 1.0 - float(confidence))):.3f}"
    common.credit_headers(response, cutout)
    return response


@common.api_view(DIALECT, methods=("GET",))
def account(request: HttpRequest) -> HttpResponse:
    """``GET /v1/account`` (Photoroom's account host): the workspace's available credits."""
    available = common.remaining_credits(request)
    return JsonResponse({"credits": {"available": available, "subscription": 0}})
