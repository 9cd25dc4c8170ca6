"""The OpenAPI 3.1 document of the native API (``/api/openapi.json``) and its docs page.

Hand-written on purpose: it is the contract, and tests run schemathesis against it, so every
status code and field the views return is declared here.
"""

from __future__ import annotations

import base64
import copy
import io
from functools import lru_cache
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe
from PIL import Image, ImageDraw

from cutout import engine

NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_INT = {"type": ["integer", "null"]}


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


ERRORS = {
    "400": _error_response(
        "Bad input: missing_image, multiple_images, invalid_parameter, invalid_image, "
        "unsupported_format, file_too_large, image_too_small, image_too_large, fetch_failed."
    ),
    "401": _error_response("Missing, invalid or revoked API key (unauthenticated)."),
    "402": _error_response("insufficient_credits or monthly_cap_exceeded: nothing was charged."),
    "404": _error_response("No such object in the API key's workspace (not_found)."),
    "405": _error_response("Method not allowed here (method_not_allowed)."),
    "409": _error_response(
        "conflict: the Idempotency-Key is in use by a request still running, or was used for "
        "another image or other options."
    ),
    "413": _error_response("The request body is too large (request_too_large)."),
    "429": {
        **_error_response("Rate limit reached for this API key (rate_limited)."),
        "headers": {
            "X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"},
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "string"},
            },
        },
    },
    "500": _error_response("Unexpected server error (internal); quote the request_id."),
    "503": _error_response("The engine cannot process images right now (unavailable)."),
}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: ERRORS[code] for code in codes}


@lru_cache(maxsize=1)
def example_image_b64() -> str:
    """A small PNG (a red disc on green) used as the request example."""
    image = Image.new("RGB", (64, 64), (40, 150, 70))
    ImageDraw.Draw(image).ellipse((16, 12, 48, 52), fill=(220, 50, 40))
    out = io.BytesIO()
    image.save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode("ascii")


OPTIONS_PROPERTIES: dict[str, Any] = {
    "mode": {
        "type": "string",
        "enum": list(engine.MODES),
        "default": "transparent",
        "description": "transparent (RGBA cutout), mask (8-bit alpha), background (subject on "
        "bg_color, white by default), crop (transparent, cropped to the subject), shadow "
        "(subject with a soft synthesised shadow).",
    },
    "format": {
        "type": "string",
        "enum": ["png", "jpg", "jpeg", "webp", "avif", "zip"],
        "default": "png",
        "description": "zip holds color.jpg and alpha.png, as remove.bg does.",
    },
    "channels": {"type": "string", "enum": list(engine.CHANNELS)},
    "bg_color": {
        "type": "string",
        "description": "#rgb, #rrggbb, #rrggbbaa, rgb(…), rgba(…) or a CSS colour name.",
        "examples": ["#ffffff", "white"],
    },
    "size": {
        "type": "string",
        "description": "preview (256), small (512), medium (1024), large (2048), full, or a "
        "longest side in pixels (32-10000). Never upscales.",
        "default": "full",
    },
    "crop": {"type": "boolean", "default": False},
    "crop_margin": {
        "type": "string",
        "description": "1, 2 or 4 lengths in px or % of the subject (max 500px / 50%).",
        "default": "0",
    },
    "pipeline": {"type": "string", "enum": list(engine.PIPELINES)},
    "shadow_opacity": {"type": "number", "minimum": 0, "maximum": 1},
    "shadow_blur": {"type": "string"},
    "shadow_offset_x": {"type": "string"},
    "shadow_offset_y": {"type": "string"},
}

CUTOUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "id",
        "object",
        "status",
        "created_at",
        "finished_at",
        "input",
        "options",
        "result",
        "metadata",
        "credits_charged",
        "processing_ms",
        "error",
    ],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "object": {"const": "cutout"},
        "status": {"type": "string", "enum": ["pending", "processing", "succeeded", "failed"]},
        "created_at": {"type": "string", "format": "date-time"},
        "finished_at": {**NULLABLE_STRING, "format": "date-time"},
        "input": {
            "type": "object",
            "required": ["name", "bytes", "sha256", "width", "height"],
            "properties": {
                "name": {"type": "string"},
                "bytes": {"type": "integer", "minimum": 0},
                "sha256": {"type": "string"},
                "width": NULLABLE_INT,
                "height": NULLABLE_INT,
            },
        },
        "options": {"type": "object"},
        "result": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": [
                        "url",
                        "download_url",
                        "expires_in",
                        "content_type",
                        "width",
                        "height",
                    ],
                    "properties": {
                        "url": {"type": "string", "description": "Signed URL, valid 24 hours."},
                        "download_url": {"type": "string"},
                        "expires_in": {"type": "integer"},
                        "content_type": {"type": "string"},
                        "width": NULLABLE_INT,
                        "height": NULLABLE_INT,
                    },
                },
            ]
        },
        "metadata": {
            "type": "object",
            "description": "bbox (in the result), foreground_coverage, confidence, pipeline, "
            "models, timings_ms; dedup_of when served from an earlier identical request.",
        },
        "credits_charged": {"type": "integer", "minimum": 0},
        "processing_ms": NULLABLE_INT,
        "error": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                },
            ]
        },
    },
}

JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "id",
        "object",
        "status",
        "created_at",
        "finished_at",
        "options",
        "progress",
        "items",
        "results_zip_url",
    ],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "object": {"const": "job"},
        "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
        "created_at": {"type": "string", "format": "date-time"},
        "finished_at": {**NULLABLE_STRING, "format": "date-time"},
        "options": {"type": "object"},
        "progress": {
            "type": "object",
            "required": [
                "total",
                "queued",
                "running",
                "done",
                "failed",
                "remaining",
                "percent",
                "finished",
            ],
            "properties": {
                "total": {"type": "integer"},
                "queued": {"type": "integer"},
                "running": {"type": "integer"},
                "done": {"type": "integer"},
                "failed": {"type": "integer"},
                "remaining": {"type": "integer"},
                "percent": {"type": "integer"},
                "finished": {"type": "boolean"},
            },
        },
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "position", "name", "status", "error", "cutout"],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "position": {"type": "integer"},
                    "name": {"type": "string"},
                    "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
                    "error": {
                        "oneOf": [
                            {"type": "null"},
                            {
                                "type": "object",
                                "required": ["code", "message"],
                                "properties": {
                                    "code": {"type": "string"},
                                    "message": {"type": "string"},
                                },
                            },
                        ]
                    },
                    "cutout": {
                        "oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Cutout"}]
                    },
                },
            },
        },
        "results_zip_url": NULLABLE_STRING,
    },
}

USAGE_SCHEMA = {
    "type": "object",
    "required": ["cutouts", "failed", "credits_charged"],
    "properties": {
        "cutouts": {"type": "integer"},
        "failed": {"type": "integer"},
        "credits_charged": {"type": "integer"},
    },
}

ACCOUNT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["workspace", "api_key", "credits", "usage"],
    "properties": {
        "workspace": {
            "type": "object",
            "required": ["id", "name", "slug"],
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "slug": {"type": "string"},
            },
        },
        "api_key": {
            "type": "object",
            "required": ["name", "prefix", "monthly_cap", "month_credits_used"],
            "properties": {
                "name": {"type": "string"},
                "prefix": {"type": "string"},
                "monthly_cap": NULLABLE_INT,
                "month_credits_used": {"type": "integer"},
            },
        },
        "credits": {
            "type": "object",
            "required": ["balance", "reserved", "available"],
            "properties": {
                "balance": {"type": "integer"},
                "reserved": {"type": "integer"},
                "available": {"type": "integer"},
            },
        },
        "usage": {
            "type": "object",
            "required": ["month_start", "this_month", "this_month_this_key", "all_time"],
            "properties": {
                "month_start": {"type": "string", "format": "date-time"},
                "this_month": USAGE_SCHEMA,
                "this_month_this_key": USAGE_SCHEMA,
                "all_time": USAGE_SCHEMA,
            },
        },
    },
}

MODELS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["default_pipeline", "pipelines", "models"],
    "properties": {
        "default_pipeline": {"type": "string"},
        "pipelines": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "models", "description", "default"],
                "properties": {
                    "name": {"type": "string"},
                    "models": {"type": "array", "items": {"type": "string"}},
                    "description": {"type": "string"},
                    "default": {"type": "boolean"},
                },
            },
        },
        "models": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "file", "sha256", "input_size", "licence"],
                "properties": {
                    "name": {"type": "string"},
                    "file": {"type": "string"},
                    "sha256": {"type": "string"},
                    "input_size": {"type": "array", "items": {"type": "integer"}},
                    "licence": {"type": "string"},
                },
            },
        },
    },
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "request_id"],
            "properties": {
                "code": {
                    "type": "string",
                    "enum": [
                        "unauthenticated",
                        "forbidden",
                        "missing_image",
                        "multiple_images",
                        "invalid_parameter",
                        "file_too_large",
                        "request_too_large",
                        "unsupported_format",
                        "invalid_image",
                        "image_too_small",
                        "image_too_large",
                        "fetch_failed",
                        "insufficient_credits",
                        "monthly_cap_exceeded",
                        "rate_limited",
                        "not_found",
                        "method_not_allowed",
                        "conflict",
                        "unavailable",
                        "internal",
                    ],
                },
                "message": {"type": "string"},
                "field": {"type": "string"},
                "request_id": {"type": "string"},
            },
        }
    },
}

RATE_HEADERS = {
    "X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"},
    "X-RateLimit-Limit": {"$ref": "#/components/headers/X-RateLimit-Limit"},
    "X-RateLimit-Remaining": {"$ref": "#/components/headers/X-RateLimit-Remaining"},
    "X-RateLimit-Reset": {"$ref": "#/components/headers/X-RateLimit-Reset"},
}
CREDIT_HEADERS = {
    **RATE_HEADERS,
    "X-Credits-Charged": {
        "description": "Credits this request cost (0 for an identical earlier image or a replay).",
        "schema": {"type": "string"},
    },
    "X-Credits-Remaining": {
        "description": "Credits available to the workspace afterwards.",
        "schema": {"type": "string"},
    },
}


def _json(
    schema_ref: str, description: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "description": description,
        "headers": headers or RATE_HEADERS,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


def _request_body() -> dict[str, Any]:
    sources = {
        "image_url": {
            "type": "string",
            "description": "http(s) URL of the image; fetched with private addresses refused.",
        },
        "image_b64": {"type": "string", "description": "The image, base64-encoded."},
    }
    multipart = {
        "type": "object",
        "properties": {
            "image": {"type": "string", "format": "binary", "description": "The image file."},
            **sources,
            **OPTIONS_PROPERTIES,
            "async": {"type": "boolean", "description": "Queue a job instead of waiting."},
        },
    }
    body = {
        "type": "object",
        "properties": {
            **sources,
            **OPTIONS_PROPERTIES,
            "async": {"type": "boolean"},
        },
    }
    return {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": multipart},
            "application/json": {
                "schema": body,
                "example": {
                    "image_b64": example_image_b64(),
                    "mode": "transparent",
                    "format": "png",
                    "pipeline": "fast",
                },
            },
        },
    }


def document() -> dict[str, Any]:
    security: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyHeader": []}]
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Cutout API",
            "version": "1.0.0",
            "description": "Background removal with local models. One credit per successful "
            "cutout; failed requests and identical repeats (same image and options in the same "
            "workspace) cost nothing. Authenticate with a workspace API key.",
        },
        "servers": [{"url": "/"}],
        "security": security,
        "paths": {
            "/api/v1/cutouts": {
                "post": {
                    "operationId": "createCutout",
                    "summary": "Remove the background from one image",
                    "description": "Synchronous by default: answers with the finished cutout "
                    "(201; 200 when an Idempotency-Key replays an earlier result). With "
                    "async=true (query or body) answers 202 with a job to poll; several image "
                    "files may then be sent.",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "Retries with the same key and input return the same "
                            "cutout and charge once.",
                            "schema": {"type": "string", "maxLength": 255},
                        },
                        {
                            "name": "async",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "boolean"},
                        },
                    ],
                    "requestBody": _request_body(),
                    "responses": {
                        "200": _json(
                            "Cutout",
                            "Replayed result of an earlier request with the same Idempotency-Key.",
                            CREDIT_HEADERS,
                        ),
                        "201": _json("Cutout", "The finished cutout.", CREDIT_HEADERS),
                        "202": _json("Job", "Queued as a job (async=true)."),
                        **_errors("400", "401", "402", "409", "413", "429", "500", "503"),
                    },
                }
            },
            "/api/v1/cutouts/{cutout_id}": {
                "get": {
                    "operationId": "getCutout",
                    "summary": "A cutout of the key's workspace, with a fresh signed result URL",
                    "parameters": [
                        {
                            "name": "cutout_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _json("Cutout", "The cutout."),
                        **_errors("401", "404", "429", "500"),
                    },
                }
            },
            "/api/v1/jobs/{job_id}": {
                "get": {
                    "operationId": "getJob",
                    "summary": "A batch job with its progress and items",
                    "parameters": [
                        {
                            "name": "job_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _json("Job", "The job."),
                        **_errors("401", "404", "429", "500"),
                    },
                }
            },
            "/api/v1/account": {
                "get": {
                    "operationId": "getAccount",
                    "summary": "Workspace, key, credit balance and usage",
                    "responses": {
                        "200": _json("Account", "The account."),
                        **_errors("401", "429", "500"),
                    },
                }
            },
            "/api/v1/models": {
                "get": {
                    "operationId": "listModels",
                    "summary": "Pipelines and models this server runs",
                    "responses": {
                        "200": _json("Models", "Pipelines and models."),
                        **_errors("401", "429", "500"),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Authorization: Bearer ck_…",
                },
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            },
            "headers": {
                "X-Request-ID": {
                    "description": "Id of this request (quote it to support).",
                    "schema": {"type": "string"},
                },
                "X-RateLimit-Limit": {
                    "description": "Requests allowed per window for this key.",
                    "schema": {"type": "string"},
                },
                "X-RateLimit-Remaining": {
                    "description": "Requests left in the current window.",
                    "schema": {"type": "string"},
                },
                "X-RateLimit-Reset": {
                    "description": "Unix time at which the window resets.",
                    "schema": {"type": "string"},
                },
            },
            "schemas": {
                "Cutout": CUTOUT_SCHEMA,
                "Job": JOB_SCHEMA,
                "Account": ACCOUNT_SCHEMA,
                "Models": MODELS_SCHEMA,
                "Error": ERROR_SCHEMA,
            },
        },
    }
    return copy.deepcopy(doc)


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
        "notes": "image_file, image_file_b64 or image_url; size, type, format (auto/png/jpg/webp/zip), "
        "channels, crop, crop_margin, bg_color, add_shadow. Image body (or JSON with "
        "Accept: application/json); X-Width/X-Height/X-Type/X-Foreground-*/X-Credits-Charged "
        'headers. Errors: {"errors": [{"title", "code"}]}: 400, 402, 403, 429.',
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
        "enough credits: 429 ERROR_NOT_ENOUGH_CREDITS.",
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
        "< 16 MB, ≤ 4096x4096.",
    },
    {
        "name": "Image bytes API",
        "auth": "x-api-key",
        "endpoints": ["POST /v1/remove-background"],
        "notes": "multipart image; format png/jpg/webp, channels rgba/rgb, bg_color, size "
        "full/preview/small/medium/large, crop. Answers with the image and X-Processing-Time-Ms, "
        'X-Image-Width, X-Image-Height. Errors {"code", "message", "details", "request_id"}: 400 '
        "validation_error / missing_image / image_too_large, 401 authentication_error, 402 "
        "payment_required, 429 rate_limit_exceeded, 500 internal_server_error.",
    },
]


@require_safe
def docs(request: HttpRequest) -> HttpResponse:
    doc = document()
    operations = []
    for path, methods in doc["paths"].items():
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
            "options": OPTIONS_PROPERTIES,
            "dialects": DIALECTS,
            "info": doc["info"],
            "error_codes": ERROR_SCHEMA["properties"]["error"]["properties"]["code"]["enum"],
        },
    )
