"""API4AI background removal dialect: ``/v1/version``, ``/v1/modes``, ``/v1/results``.

``POST /v1/results?mode=fg-image|fg-image-shadow|fg-mask`` takes multipart ``image`` (a file) or
``url``. The answer is ``{"results": [{"status": {"code", "message"}, "name", "md5",
"entities": [{"kind": "image", "name", "image" (base64 PNG), "format": "PNG"}]}]}``.

As the seed documents: an image that cannot be processed is answered with 200 and
``status.code == "failure"``; a request over ~32 MB gets 413; a request with neither ``image`` nor
``url`` gets 422 ``{"detail": "Missing image or url field."}``. Only JPEG and PNG under 16 MB and
at most 4096x4096 are accepted. Auth: ``X-RapidAPI-Key``, ``X-Api-Key`` or ``Authorization:
Bearer``; account-level errors (key, credits, rate) use ``{"detail": ...}`` with 401/402/429.
The seed's examples carry no key: with ``CUTOUT_API4AI_ANONYMOUS_KEY`` set to a key's prefix,
calls without a key are served (and charged, capped, rate-limited) as that key.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from cutout import engine
from cutout.api import common
from cutout.api.errors import ApiError, from_exception
from cutout.cutouts.engine_settings import default_pipeline

VERSION = "v1.5.0"
MODES = ("fg-image", "fg-image-shadow", "fg-mask")
ENTITY_NAMES = {
    "fg-image": "general-fg-image",
    "fg-image-shadow": "general-fg-image-shadow",
    "fg-mask": "general-fg-mask",
}
MAX_IMAGE_BYTES = 16 * 1024 * 1024  # "must be less than 16Mb"
MAX_REQUEST_BYTES = 32 * 1024 * 1024  # "Request size is limited by approximately 32Mb"
MAX_SIDE = 4096
ACCEPTED = ("JPEG", "PNG")
TOO_LARGE_TEXT = (
    "Error: Request Entity Too Large\nYour client issued a request that was too large.\n"
)

# Errors about the image itself: answered inside a 200 as the seed says.
IMAGE_KINDS = {
    "invalid_image": "Can not load image.",
    "unsupported_format": "Image format is not supported: only JPEG and PNG are accepted.",
    "file_too_large": "Image file is too large: it must be less than 16Mb.",
    "image_too_small": "Image is too small.",
    "image_too_large": "Image resolution is too large: the maximum is 4096x4096.",
    "fetch_failed": "Can not load image from url.",
    "unknown_foreground": "Could not identify a foreground in the image.",
}


class Api4Ai(common.Dialect):
    name = "api4ai"
    auth_headers = ("X-RapidAPI-Key", "X-Api-Key", "A4A-CLIENT-APP-ID")
    # The seed's examples send no key at all (like API4AI's public demo endpoint). An operator
    # who wants such clients to work unchanged names a key here (its prefix); off by default.
    anonymous_setting = "CUTOUT_API4AI_ANONYMOUS_KEY"

    def max_request_bytes(self) -> int:
        return MAX_REQUEST_BYTES

    def error_response(self, request: HttpRequest, error: ApiError) -> HttpResponse:
        if error.kind == "request_too_large":
            return HttpResponse(
                TOO_LARGE_TEXT, status=413, content_type="text/plain; charset=utf-8"
            )
        status = {"missing_image": 422, "invalid_parameter": 422, "multiple_images": 422}.get(
            error.kind, error.status
        )
        return JsonResponse({"detail": error.message}, status=status)


DIALECT = Api4Ai()


def _result(
    name: str, md5: str, *, code: str, message: str, entities: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "results": [
            {
                "status": {"code": code, "message": message},
                "name": name,
                "md5": md5,
                "entities": entities,
            }
        ]
    }


def build_options(mode: str) -> engine.Options:
    pipeline = default_pipeline()
    if mode == "fg-mask":
        return engine.Options(mode="mask", format="png", channels="alpha", pipeline=pipeline)
    if mode == "fg-image-shadow":
        return engine.Options(mode="shadow", format="png", channels="rgba", pipeline=pipeline)
    return engine.Options(mode="transparent", format="png", channels="rgba", pipeline=pipeline)


def check_image(data: bytes) -> None:
    info = common.peek_image(data)
    if info.format not in ACCEPTED:
        raise ApiError("unsupported_format", IMAGE_KINDS["unsupported_format"])
    if max(info.width, info.height) > MAX_SIDE:
        raise ApiError("image_too_large", IMAGE_KINDS["image_too_large"])


@common.api_view(DIALECT, methods=("GET",), auth=False)
def version(request: HttpRequest) -> HttpResponse:
    return HttpResponse(VERSION, content_type="text/plain; charset=utf-8")


@common.api_view(DIALECT, methods=("GET",), auth=False)
def modes(request: HttpRequest) -> HttpResponse:
    return JsonResponse(list(MODES), safe=False)


@common.api_view(DIALECT)
def results(request: HttpRequest) -> HttpResponse:
    mode = request.GET.get("mode", "").strip() or "fg-image"
    if mode not in MODES:
        raise ApiError(
            "invalid_parameter",
            f"Unknown mode {mode!r}: use one of {', '.join(MODES)}.",
            field="mode",
        )
    upload = request.FILES.get("image")
    url = request.POST.get("url", "").strip()
    if upload is None and request.POST.get("image", "").strip().startswith(("http://", "https://")):
        url = request.POST["image"].strip()
    if upload is None and not url:
        raise ApiError("missing_image", "Missing image or url field.")

    name = (upload.name or "image") if upload is not None else url
    data = b""
    try:
        if upload is not None:
            data = common.read_upload(upload, max_bytes=MAX_IMAGE_BYTES)
        else:
            data, _ = common.fetch_url(url, max_bytes=MAX_IMAGE_BYTES)
        check_image(data)
        cutout = common.run_cutout(
            request, DIALECT, data=data, options=build_options(mode), input_name=name
        )
    except Exception as exc:
        error = from_exception(exc)
        if error is None or error.kind not in IMAGE_KINDS:
            raise
        body = _result(
            name,
            hashlib.md5(data, usedforsecurity=False).hexdigest(),
            code="failure",
            message=IMAGE_KINDS[error.kind] if error.kind != "fetch_failed" else error.message,
            entities=[],
        )
        return JsonResponse(body)

    image = base64.b64encode(common.read_result(cutout)).decode("ascii")
    body = _result(
        name,
        hashlib.md5(data, usedforsecurity=False).hexdigest(),
        code="ok",
        message="Success",
        entities=[{"kind": "image", "name": ENTITY_NAMES[mode], "image": image, "format": "PNG"}],
    )
    response = JsonResponse(body)
    common.credit_headers(response, cutout)
    return response
