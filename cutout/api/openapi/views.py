"""``/api/openapi.json`` and the API's documentation page (``/api/docs``)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from cutout import engine
from cutout.api.errors import KINDS
from cutout.api.openapi.document import document
from cutout.cutouts.engine_settings import default_pipeline


@require_safe
def openapi_json(request: HttpRequest) -> HttpResponse:
    response = JsonResponse(document(), json_dumps_params={"indent": 1})
    response["Access-Control-Allow-Origin"] = "*"
    return response


# ---------------------------------------------------------------------------------------------
# Docs page

DIALECTS = [
    {
        "name": "remove.bg",
        "auth": "X-Api-Key",
        "endpoints": ["POST /v1.0/removebg", "GET /v1.0/account"],
        "notes": "image_file, image_file_b64 or image_url; size (previews free), type, "
        "type_level, format (auto/png/jpg/webp/zip), channels, roi, crop, crop_margin, scale, "
        "position, bg_color, bg_image_file, bg_image_url, shadow_type, shadow_opacity, "
        "semitransparency. Image body (JSON when Accept prefers it); X-Width/X-Height/X-Type/"
        'X-Foreground-*/X-Credits-Charged headers. Errors: {"errors": [{"title", "code"}]}: 400 '
        "(remove.bg's codes, unknown_foreground included), 402, 403, 429.",
        "example": 'curl -H "X-API-Key: $KEY" -F image_file=@file.jpg -F size=auto '
        "-f https://HOST/v1.0/removebg -o no-bg.png",
    },
    {
        "name": "AILabTools",
        "auth": "ailabapi-api-key",
        "endpoints": [
            "POST /api/cutout/general/universal-background-removal",
            "POST /api/cutout/general/food-background-removal",
            "POST /api/cutout/general/commodity-background-removal",
        ],
        "notes": "multipart image and return_form (mask, whiteBK, crop where allowed); JSON "
        "envelope with error_code, error_detail and data.image_url (signed, valid 24 hours). "
        "Limits: universal ≤ 3 MB, >32 and <2000 px per side, JPEG/BMP/WEBP/8-bit PNG; food ≤ 4 MB, "
        ">40 and <1999 px, JPEG/BMP/PNG; commodity ≤ 3 MB, <2000 px, JPEG/BMP/8-bit PNG. Not "
        "enough credits: 429 ERROR_NOT_ENOUGH_CREDITS; rate limit: 503 "
        "AI_SERVICE_FLOW_RESTRICTION with Retry-After. GET /api/common/query-credits.",
        "example": "curl -X POST https://HOST/api/cutout/general/universal-background-removal "
        '-H "ailabapi-api-key: $KEY" -F image=@file.jpg -F return_form=whiteBK',
    },
    {
        "name": "API4AI",
        "auth": "X-RapidAPI-Key or X-Api-Key",
        "endpoints": [
            "GET /v1/version",
            "GET /v1/modes",
            "POST /v1/results?mode=fg-image|fg-image-shadow|fg-mask",
        ],
        "notes": "multipart image or url; results[].entities[].image is a base64 PNG. An image "
        "that cannot be processed is a 200 with status.code failure; over 32 MB is 413; "
        'neither image nor url is 422 {"detail": "Missing image or url field."}. JPEG/PNG, '
        "< 16 MB, ≤ 4096x4096. Key-less calls (with CUTOUT_API4AI_ANONYMOUS_KEY) have their "
        "own rate limit and monthly cap.",
        "example": 'curl -X POST "https://HOST/v1/results?mode=fg-image" '
        '-H "X-RapidAPI-Key: $KEY" -F image=@img.jpg',
    },
    {
        "name": "Image bytes API (poof.bg)",
        "auth": "x-api-key",
        "endpoints": ["POST /v1/remove", "POST /v1/remove-background"],
        "notes": "multipart image; format png/jpg/webp, channels rgba/rgb, bg_color, size "
        "full/preview/small/medium/large, crop. Answers with the image and X-Processing-Time-Ms, "
        'X-Image-Width, X-Image-Height. Errors {"code", "message", "details", "request_id"}: 400 '
        "validation_error / missing_image / image_too_large, 401 authentication_error, 402 "
        "payment_required, 429 rate_limit_exceeded, 503 service_unavailable.",
        "example": 'curl -X POST https://HOST/v1/remove -H "x-api-key: $KEY" '
        "-F image_file=@photo.jpg -o result.png",
    },
    {
        "name": "Pixian",
        "auth": "HTTP Basic: any id, the key as the secret",
        "endpoints": ["POST /api/v2/remove-background", "GET /api/v2/account"],
        "notes": "image, image.url or image.base64; test (free, watermarked), max_pixels, "
        "background.color, result.crop_to_foreground, result.margin, output.format "
        "(auto/png/jpeg), output.jpeg_quality. X-Credits-Charged (and X-Credits-Calculated in "
        'test mode). Errors {"error": {"status", "code", "message"}}.',
        "example": "curl https://HOST/api/v2/remove-background -u xyz123:$KEY "
        "-F image=@example.jpeg -o pixian_result.png",
    },
    {
        "name": "Photoroom",
        "auth": "x-api-key",
        "endpoints": ["POST /v1/segment", "GET /v1/account"],
        "notes": "image_file; format png/jpg/webp, channels rgba/alpha, bg_color, size "
        "preview (free)/medium/hd/full, crop, despill (accepted, no effect). x-uncertainty-score "
        'from our confidence. Errors {"detail", "status_code", "type"}.',
        "example": "curl --request POST --url https://HOST/v1/segment "
        '--header "x-api-key: $KEY" --form image_file=@image.jpg --output result.png',
    },
    {
        "name": "Clipdrop",
        "auth": "x-api-key",
        "endpoints": ["POST /remove-background/v1"],
        "notes": "image_file; transparency_handling; the Accept header picks png (default), webp "
        'or jpg. x-credits-consumed, x-remaining-credits. Errors {"error": "..."}.',
        "example": 'curl -X POST https://HOST/remove-background/v1 -H "x-api-key: $KEY" '
        '-H "Accept: image/webp" -F image_file=@car.jpg -o result.webp',
    },
]


@require_safe
def docs(request: HttpRequest) -> HttpResponse:
    doc = document()
    operations = []
    for path, methods in doc["paths"].items():
        if not path.startswith("/api/v1/"):
            continue  # the dialects have their own section below
        for method, op in methods.items():
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "parameters": op.get("parameters", []),
                    "responses": [
                        {"status": status, "description": resp.get("description", "")}
                        for status, resp in op["responses"].items()
                    ],
                }
            )
    return render(
        request,
        "api/docs.html",
        {
            "operations": operations,
            "options": engine.option_properties(default_pipeline=default_pipeline()),
            "dialects": DIALECTS,
            "info": doc["info"],
            "error_codes": list(KINDS),
        },
    )
