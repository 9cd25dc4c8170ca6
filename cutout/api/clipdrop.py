"""Clipdrop remove-background dialect: ``POST /remove-background/v1``.

Header ``x-api-key``; multipart ``image_file`` (PNG, JPEG or WebP, at most 25 MP and 30 MB) and
optional ``transparency_handling``: ``return_input_if_non_opaque`` (Clipdrop's default: an input
that already has some transparency comes back unchanged, and is charged as Clipdrop charges it)
or ``discard_alpha_layer`` (the alpha is dropped before the cutout). The ``Accept`` header picks
the output: ``image/webp``, ``image/jpeg`` (or Clipdrop's spelling ``image/jpg``, on white) or PNG
(the default, also for ``*/*``). The result has the input's dimensions; headers
``x-credits-consumed`` and ``x-remaining-credits``.

Errors are Clipdrop's flat ``{"error": "<message>"}``; Clipdrop documents no statuses, so these are
Cutout's (docs/api.md): 400 bad input or no foreground, 401 no key, 403 a wrong key, 402 no
credits, 406 an Accept naming no image type we make, 429 rate limit, 503 outage.
"""

from __future__ import annotations

import io

import numpy as np
from django.http import HttpRequest, HttpResponse, JsonResponse
from PIL import Image

from cutout import engine
from cutout.api import common
from cutout.api.errors import ApiError
from cutout.cutouts.engine_settings import default_pipeline

MB = 1024 * 1024
MAX_BYTES = 30 * MB
MAX_PIXELS = 25_000_000
ACCEPTED = ("PNG", "JPEG", "WEBP")
TRANSPARENCY = ("return_input_if_non_opaque", "discard_alpha_layer")
# Accept media type -> engine format (the first an Accept header prefers wins)
OUTPUTS = {"image/png": "png", "image/webp": "webp", "image/jpeg": "jpeg", "image/jpg": "jpeg"}
STATUSES = {"unauthenticated": 401, "forbidden": 403, "invalid_parameter": 400}


class Clipdrop(common.Dialect):
    name = "clipdrop"
    auth_headers = ("x-api-key",)

    def max_request_bytes(self) -> int:
        return MAX_BYTES + MB

    def error_response(self, request: HttpRequest, error: ApiError) -> HttpResponse:
        status = int(error.extra.get("status") or STATUSES.get(error.kind, error.status))
        if error.kind == "unauthenticated":
            if not request.headers.get("x-api-key"):
                return JsonResponse({"error": "No api key provided"}, status=401)
            status = 403  # a key was sent but is not valid
        return JsonResponse({"error": error.message}, status=status)


DIALECT = Clipdrop()


def output_format(request: HttpRequest) -> str:
    """The format ``Accept`` prefers: the highest q-value, then the most specific mention, then
    PNG (so ``*/*``, ``image/*``, axios's default or no Accept give PNG)."""
    accept = request.headers.get("Accept", "").strip()
    if not accept:
        return "png"
    ranked = sorted(
        (
            (*common.media_preference(accept, media), -order, fmt)
            for order, (media, fmt) in enumerate(OUTPUTS.items())
        ),
        reverse=True,
    )
    q, _rank, _order, fmt = ranked[0]
    if q <= 0:
        raise ApiError(
            "invalid_parameter",
            "The Accept header allows no image type we make: use image/png, image/webp or "
            "image/jpeg.",
            field="Accept",
            extra={"status": 406},
        )
    return fmt


def _has_transparency(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as img:
        if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
            alpha = np.asarray(img.convert("RGBA").getchannel("A"))
            return bool(alpha.min() < 255)
    return False


@common.api_view(DIALECT)
def remove_background(request: HttpRequest) -> HttpResponse:
    upload = request.FILES.get("image_file")
    if upload is None:
        raise ApiError("missing_image", "image_file is required.", field="image_file")
    handling = (request.POST.get("transparency_handling") or TRANSPARENCY[0]).strip()
    if handling not in TRANSPARENCY:
        raise ApiError(
            "invalid_parameter",
            f"transparency_handling must be one of: {', '.join(TRANSPARENCY)}.",
            field="transparency_handling",
        )
    fmt = output_format(request)
    data = common.read_upload(upload, max_bytes=MAX_BYTES)
    info = common.peek_image(data)
    if info.format not in ACCEPTED:
        raise ApiError(
            "unsupported_format",
            f"{info.format or 'This'} images are not supported: send PNG, JPEG or WebP.",
            field="image_file",
        )
    if info.width * info.height > MAX_PIXELS:
        raise ApiError("image_too_large", "The image is larger than 25 megapixels.")
    if handling == TRANSPARENCY[0] and _has_transparency(data):
        data_out, content_type = _input_as(data, fmt)
        response = HttpResponse(data_out, content_type=content_type)
        response["x-credits-consumed"] = "0"
        response["x-remaining-credits"] = str(common.remaining_credits(request))
        return response
    options = engine.Options(
        mode="background" if fmt == "jpeg" else "transparent",
        format=fmt,
        bg_color="white" if fmt == "jpeg" else None,
        pipeline=default_pipeline(),
    )
    if handling == TRANSPARENCY[1]:
        data = _without_alpha(data)
    cutout = common.run_cutout(
        request, DIALECT, data=data, options=options, input_name=upload.name or ""
    )
    response = HttpResponse(common.read_result(cutout), content_type=cutout.result_content_type)
    common.credit_headers(response, cutout)
    response["x-credits-consumed"] = response["X-Credits-Charged"]
    response["x-remaining-credits"] = response["X-Credits-Remaining"]
    return response


def _without_alpha(data: bytes) -> bytes:
    """The image with its alpha layer dropped (the colour under it kept), as PNG."""
    with Image.open(io.BytesIO(data)) as img:
        if img.mode not in ("RGBA", "LA", "PA") and "transparency" not in img.info:
            return data
        out = io.BytesIO()
        img.convert("RGBA").convert("RGB").save(out, "PNG")
        return out.getvalue()


def _input_as(data: bytes, fmt: str) -> tuple[bytes, str]:
    """The input returned unchanged (``return_input_if_non_opaque``), in the wanted format."""
    with Image.open(io.BytesIO(data)) as img:
        if (img.format or "").lower() == fmt:
            return data, f"image/{fmt}"
        out = io.BytesIO()
        picture = img.convert("RGBA")
        if fmt == "jpeg":
            white = Image.new("RGBA", picture.size, (255, 255, 255, 255))
            picture = Image.alpha_composite(white, picture).convert("RGB")
        picture.save(out, fmt.upper())
        return out.getvalue(), f"image/{fmt}"
