"""AILabTools dialect: ``POST /api/cutout/general/{universal,food,commodity}-background-removal``.

Header ``ailabapi-api-key``; multipart ``image`` and optional ``return_form``. Every answer is the
public JSON envelope (``request_id``, ``log_id``, ``error_code`` — 0 on success, else the HTTP
status —, ``error_code_str``, ``error_msg``, ``error_detail{status_code, code, code_message,
message}``) and, on success, ``data.image_url``: a signed URL to the result, valid 24 hours.

Each endpoint enforces the input limits its seed documents (file size, resolution, formats, PNG bit
depth) before anything is charged; failed requests are not billed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from billing.selectors import balance_for
from cutout import engine
from cutout.api import common
from cutout.api.errors import ApiError
from cutout.cutouts.engine_settings import default_pipeline
from cutout.files import storage
from cutout.logging import current_request_id

URL_VALIDITY = timedelta(hours=24)
MB = 1024 * 1024


@dataclass(frozen=True)
class Endpoint:
    name: str
    max_bytes: int
    formats: tuple[str, ...]  # Pillow format names
    min_exclusive: int  # each side must be larger than this
    max_exclusive: int  # each side must be smaller than this
    return_forms: tuple[str, ...]
    png_8bit_only: bool

    def describe_formats(self) -> str:
        names = {"JPEG": "JPEG/JPG", "BMP": "BMP", "WEBP": "WEBP", "PNG": "PNG"}
        text = "/".join(names[f] for f in self.formats)
        return text + (" (8-bit PNG only)" if self.png_8bit_only else "")


ENDPOINTS = {
    # Seed 003: ≤ 3 MB, > 32x32 and < 2000x2000 (longest side ≤ 1999), JPEG/JPG/BMP/WEBP/PNG 8-bit.
    "universal": Endpoint(
        "universal",
        3 * MB,
        ("JPEG", "BMP", "WEBP", "PNG"),
        32,
        2000,
        ("mask", "whiteBK", "crop"),
        True,
    ),
    # Seed 000: ≤ 4 MB, larger than 40x40, smaller than 1999x1999, JPEG/JPG/BMP/PNG.
    "food": Endpoint("food", 4 * MB, ("JPEG", "BMP", "PNG"), 40, 1999, ("mask", "whiteBK"), False),
    # Seed 001: ≤ 3 MB, less than 2000x2000, JPEG/JPG/BMP/PNG (8-bit; 16/64-bit PNG not supported).
    "commodity": Endpoint(
        "commodity", 3 * MB, ("JPEG", "BMP", "PNG"), 0, 2000, ("mask", "whiteBK", "crop"), True
    ),
}

# kind -> (HTTP status, error_detail.code, error_code_str, code_message)
ERRORS: dict[str, tuple[int, str, str, str]] = {
    "unauthenticated": (
        401,
        "ERROR_API_KEY_INVALID",
        "ERROR_APPLICATIONS_NOT_EXISTS",
        "Invalid API KEY.",
    ),
    "forbidden": (403, "ERROR_USER_LOCKED", "ERROR_USER_LOCKED", "The user is locked."),
    "missing_image": (400, "MISSING_PARAMETERS", "MISSING_PARAMETERS", "Missing parameters."),
    "multiple_images": (400, "ERROR_PARAMETERS", "ERROR_PARAMETERS", "Invalid parameters."),
    "invalid_parameter": (400, "ERROR_INVALID_PARAMETER", "ERROR_PARAMETERS", "Invalid parameter."),
    "file_too_large": (400, "ERROR_IMAGE_SIZE", "ERROR_PARAMETERS", "The image file is too large."),
    # A body too big to read is an image over the limit too: the same 400 as the per-endpoint check,
    # so a client sees one answer for "too large" whatever the margin.
    "request_too_large": (
        400,
        "ERROR_IMAGE_SIZE",
        "ERROR_PARAMETERS",
        "The image file is too large.",
    ),
    "unsupported_format": (
        400,
        "ERROR_IMAGE_FORMAT",
        "ERROR_PARAMETERS",
        "The image format is not supported.",
    ),
    "invalid_image": (400, "ERROR_IMAGE_DECODE", "ERROR_PARAMETERS", "The image cannot be read."),
    "image_too_small": (
        400,
        "ERROR_IMAGE_RESOLUTION",
        "ERROR_PARAMETERS",
        "The image resolution is not supported.",
    ),
    "image_too_large": (
        400,
        "ERROR_IMAGE_RESOLUTION",
        "ERROR_PARAMETERS",
        "The image resolution is not supported.",
    ),
    "fetch_failed": (400, "ERROR_PARAMETERS", "ERROR_PARAMETERS", "Invalid parameters."),
    "unknown_foreground": (
        422,
        "ERROR_NO_RECOGNITION_TARGET_DETECTED",
        "ERROR_NO_RECOGNITION_TARGET_DETECTED",
        "No recognition target detected in the image.",
    ),
    "insufficient_credits": (
        429,
        "ERROR_NOT_ENOUGH_CREDITS",
        "ERROR_NOT_ENOUGH_CREDITS",
        "Insufficient credits.",
    ),
    "monthly_cap_exceeded": (
        429,
        "ERROR_MONTHLY_CAP_EXCEEDED",
        "ERROR_NOT_ENOUGH_CREDITS",
        "The API KEY's monthly credit cap is reached.",
    ),
    # AILab's error table has 429 for "insufficient credits" (above) and its only throttling
    # code at 503: so the rate limit answers that (with Retry-After), and a client can tell the
    # two apart by status (docs/api.md).
    "rate_limited": (
        503,
        "AI_SERVICE_FLOW_RESTRICTION",
        "AI_SERVICE_FLOW_RESTRICTION",
        "The service is busy: too many requests; retry after Retry-After seconds.",
    ),
    "not_found": (
        404,
        "ERROR_AI_NOT_EXISTS",
        "ERROR_AI_NOT_EXISTS",
        "AI does not exist or has been deactivated.",
    ),
    "method_not_allowed": (
        405,
        "ERROR_METHOD_NOT_ALLOWED",
        "ERROR_PARAMETERS",
        "Method not allowed.",
    ),
    "conflict": (
        409,
        "ERROR_REQUEST_IN_PROGRESS",
        "ERROR_PARAMETERS",
        "A request with this key is in progress.",
    ),
    "unavailable": (503, "PROCESSING_FAILURE", "PROCESSING_FAILURE", "Processing failed."),
    "internal": (500, "ERROR_INTERNAL_SERVER", "ERROR_INTERNAL_SERVER", "Internal server error."),
}


def envelope(
    *,
    status: int,
    log_id: str,
    code: str = "",
    code_str: str = "",
    code_message: str = "",
    message: str = "",
) -> dict[str, Any]:
    return {
        "request_id": current_request_id(),
        "log_id": log_id,
        "error_code": 0 if status == 200 else status,
        "error_code_str": code_str,
        "error_msg": message,
        "error_detail": {
            "status_code": status,
            "code": code,
            "code_message": code_message,
            "message": message,
        },
    }


class AILab(common.Dialect):
    name = "ailab"
    auth_headers = ("ailabapi-api-key",)

    def max_request_bytes(self) -> int:
        return 4 * MB + MB

    def error_response(self, request: HttpRequest, error: ApiError) -> HttpResponse:
        status, code, code_str, code_message = ERRORS[error.kind]
        body = envelope(
            status=status,
            log_id=current_request_id(),
            code=code,
            code_str=code_str,
            code_message=code_message,
            message=error.message,
        )
        return JsonResponse(body, status=status)


DIALECT = AILab()


def check_image(endpoint: Endpoint, data: bytes) -> None:
    """The seed's input requirements, before anything is charged."""
    info = common.peek_image(data)
    if info.format not in endpoint.formats:
        raise ApiError(
            "unsupported_format",
            f"Image format {info.format or 'unknown'} is not supported: use {endpoint.describe_formats()}.",
            field="image",
        )
    if endpoint.png_8bit_only and info.format == "PNG" and info.bit_depth > 8:
        raise ApiError(
            "unsupported_format",
            f"{info.bit_depth}-bit PNG is not supported: use an 8-bit PNG.",
            field="image",
        )
    w, h = info.width, info.height
    if min(w, h) <= endpoint.min_exclusive:
        raise ApiError(
            "image_too_small",
            f"The image is {w}x{h}: it must be larger than "
            f"{endpoint.min_exclusive}x{endpoint.min_exclusive} px.",
            field="image",
        )
    if max(w, h) >= endpoint.max_exclusive:
        raise ApiError(
            "image_too_large",
            f"The image is {w}x{h}: it must be smaller than "
            f"{endpoint.max_exclusive}x{endpoint.max_exclusive} px.",
            field="image",
        )


def build_options(endpoint: Endpoint, return_form: str) -> engine.Options:
    pipeline = default_pipeline()
    if return_form == "":
        return engine.Options(mode="transparent", format="png", pipeline=pipeline)
    if return_form not in endpoint.return_forms:
        raise ApiError(
            "invalid_parameter",
            f"return_form={return_form!r} is not valid here: use {', '.join(endpoint.return_forms)} "
            "or leave it out.",
            field="return_form",
        )
    if return_form == "mask":
        return engine.Options(mode="mask", format="png", channels="alpha", pipeline=pipeline)
    if return_form == "whiteBK":
        return engine.Options(
            mode="background", format="png", channels="rgb", bg_color="#ffffff", pipeline=pipeline
        )
    return engine.Options(mode="transparent", format="png", crop=True, pipeline=pipeline)


def _view(endpoint: Endpoint, request: HttpRequest) -> HttpResponse:
    upload = request.FILES.get("image")
    if upload is None:
        if request.POST.get("image"):
            raise ApiError("invalid_parameter", "image must be a file upload.", field="image")
        raise ApiError("missing_image", "Missing parameter: image.", field="image")
    return_form = request.POST.get("return_form", "").strip()
    options = build_options(endpoint, return_form)
    data = common.read_upload(upload, max_bytes=endpoint.max_bytes)
    check_image(endpoint, data)
    cutout = common.run_cutout(
        request, DIALECT, data=data, options=options, input_name=upload.name or ""
    )
    base_url = f"{request.scheme}://{request.get_host()}"
    url = storage.signed_url_for(
        cutout.result, workspace=cutout.workspace, expires=URL_VALIDITY, base_url=base_url
    )
    body = envelope(status=200, log_id=cutout.pk.hex)
    body["data"] = {"image_url": url}
    response = JsonResponse(body)
    common.credit_headers(response, cutout)
    return response


@common.api_view(DIALECT)
def universal(request: HttpRequest) -> HttpResponse:
    return _view(ENDPOINTS["universal"], request)


@common.api_view(DIALECT)
def food(request: HttpRequest) -> HttpResponse:
    return _view(ENDPOINTS["food"], request)


@common.api_view(DIALECT)
def commodity(request: HttpRequest) -> HttpResponse:
    return _view(ENDPOINTS["commodity"], request)


@common.api_view(DIALECT, methods=("GET",))
def query_credits(request: HttpRequest) -> HttpResponse:
    """``GET /api/common/query-credits`` (the official SDK's ``commonQueryCredits``): AILab's
    envelope with ``data`` a list of one balance, the workspace's available credits."""
    key = common.api_workspace_key(request)
    available = balance_for(key.workspace).available
    body = envelope(status=200, log_id=current_request_id())
    body["data"] = [
        {
            "unique_sign": "cutout",
            "name": "Cutout credits",
            "balance": available,
            "total": available,
            "last_recharge_balance": 0,
            "balance_warning": 0,
            "first_buy_time": 0,
            "last_update_time": 0,
        }
    ]
    return JsonResponse(body)
