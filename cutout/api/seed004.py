"""Seed 004: ``POST /v1/remove-background`` — image bytes in, image bytes out.

Request: multipart ``image`` (``image_file`` is accepted too); ``format`` png|jpg|webp (png),
``channels`` rgba|rgb (rgba), ``bg_color`` (used when channels is rgb; white by default), ``size``
full|preview|small|medium|large (full), ``crop`` (false). JPEG, PNG or WebP up to 20 MB.

Response: the image, with ``Content-Type``, ``X-Request-ID``, ``X-Processing-Time-Ms``,
``X-Image-Width``, ``X-Image-Height`` (plus ``X-Credits-Charged`` / ``X-Credits-Remaining``).

Errors: JSON ``{"code", "message", "details", "request_id"}`` with the seed's table: 400
``validation_error`` / ``missing_image`` / ``image_too_large``, 401 ``authentication_error``, 402
``payment_required``, 429 ``rate_limit_exceeded``, 500 ``internal_server_error`` (and 503
``service_unavailable`` with ``Retry-After`` while a dependency is down).
"""

from __future__ import annotations

import time

from django.http import HttpRequest, HttpResponse, JsonResponse

from cutout import engine
from cutout.api import common
from cutout.api.errors import ApiError
from cutout.cutouts.engine_settings import default_pipeline
from cutout.logging import current_request_id

MAX_BYTES = 20 * 1024 * 1024
FORMATS = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "webp": "webp"}
CHANNELS = ("rgba", "rgb")
SIZES = ("full", "preview", "small", "medium", "large")
ACCEPTED_INPUT = ("JPEG", "PNG", "WEBP")

# kind -> (status, code)
ERRORS: dict[str, tuple[int, str]] = {
    "unauthenticated": (401, "authentication_error"),
    "forbidden": (403, "permission_denied"),
    "missing_image": (400, "missing_image"),
    "multiple_images": (400, "validation_error"),
    "invalid_parameter": (400, "validation_error"),
    "file_too_large": (400, "image_too_large"),
    "request_too_large": (400, "image_too_large"),
    "unsupported_format": (400, "validation_error"),
    "invalid_image": (400, "validation_error"),
    "image_too_small": (400, "validation_error"),
    "image_too_large": (400, "validation_error"),
    "unknown_foreground": (400, "unknown_foreground"),
    "fetch_failed": (400, "validation_error"),
    "insufficient_credits": (402, "payment_required"),
    "monthly_cap_exceeded": (402, "payment_required"),
    "rate_limited": (429, "rate_limit_exceeded"),
    "not_found": (404, "not_found"),
    "method_not_allowed": (405, "method_not_allowed"),
    "conflict": (409, "conflict"),
    # The seed's table has one server error (500); an outage is a 503 with Retry-After, so that
    # clients back off and retry instead of treating it as a failure of their request.
    "unavailable": (503, "service_unavailable"),
    "internal": (500, "internal_server_error"),
}
DETAILS = {
    "authentication_error": "Send your API key in the x-api-key header (or Authorization: Bearer).",
    "payment_required": "Buy a credit pack, or raise the key's monthly cap.",
    "rate_limit_exceeded": "Slow down: wait for Retry-After seconds, then retry.",
    "missing_image": "Send the image as multipart/form-data in the 'image' field.",
    "image_too_large": "Images up to 20 MB are accepted.",
    "internal_server_error": "Retry later; quote the request_id if it persists.",
    "service_unavailable": "Try again after the number of seconds in the Retry-After header; nothing was charged.",
}


class Seed004(common.Dialect):
    name = "seed004"
    auth_headers = ("x-api-key",)

    def max_request_bytes(self) -> int:
        return MAX_BYTES + 2 * 1024 * 1024

    def error_response(self, request: HttpRequest, error: ApiError) -> HttpResponse:
        status, code = ERRORS[error.kind]
        details = error.detail or DETAILS.get(code, "")
        if error.field and not error.detail:
            details = f"Check the '{error.field}' parameter."
        return JsonResponse(
            {
                "code": code,
                "message": error.message,
                "details": details,
                "request_id": current_request_id(),
            },
            status=status,
        )


DIALECT = Seed004()


def _choice(
    request: HttpRequest, name: str, allowed: tuple[str, ...] | dict[str, str], default: str
) -> str:
    value = request.POST.get(name, "").strip().lower() or default
    if value not in allowed:
        choices = ", ".join(allowed)
        raise ApiError("invalid_parameter", f"{name} must be one of: {choices}.", field=name)
    return value


def build_options(request: HttpRequest) -> engine.Options:
    fmt = FORMATS[_choice(request, "format", FORMATS, "png")]
    channels = _choice(request, "channels", CHANNELS, "rgba")
    size = _choice(request, "size", SIZES, "full")
    crop = common.parse_bool(request.POST.get("crop", "false"), field="crop")
    bg_color = request.POST.get("bg_color", "").strip() or None
    if bg_color is not None:
        engine.parse_color(bg_color)  # checked whatever channels says (it is used only for rgb)
    if fmt == "jpeg":
        channels = "rgb"  # JPEG has no transparency: it is composed on bg_color (white)
    if channels == "rgb":
        mode, bg_color = "background", bg_color or "white"
    else:
        mode, bg_color = "transparent", None
    return engine.Options(
        mode=mode,
        format=fmt,
        channels=channels,
        bg_color=bg_color,
        size=size,
        crop=crop,
        pipeline=default_pipeline(),
    )


@common.api_view(DIALECT)
def remove_background(request: HttpRequest) -> HttpResponse:
    started = time.perf_counter()
    if "image" in request.FILES and "image_file" in request.FILES:
        raise ApiError("multiple_images", "Send the image once, as 'image'.", field="image")
    upload = request.FILES.get("image") or request.FILES.get("image_file")
    if upload is None:
        raise ApiError("missing_image", "No image file provided.")
    options = build_options(request)
    data = common.read_upload(upload, max_bytes=MAX_BYTES)
    info = common.peek_image(data)
    if info.format not in ACCEPTED_INPUT:
        raise ApiError(
            "unsupported_format",
            f"{info.format or 'This'} images are not supported: send JPEG, PNG or WebP.",
            field="image",
        )
    cutout = common.run_cutout(
        request, DIALECT, data=data, options=options, input_name=upload.name or ""
    )
    response = HttpResponse(common.read_result(cutout), content_type=cutout.result_content_type)
    response["X-Processing-Time-Ms"] = str(round((time.perf_counter() - started) * 1000))
    response["X-Image-Width"] = str(cutout.result_width)
    response["X-Image-Height"] = str(cutout.result_height)
    common.credit_headers(response, cutout)
    return response
