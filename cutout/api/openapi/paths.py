"""The native API's operations, one per path (data, plus the request body built from the option
list). :mod:`cutout.api.openapi.document` assembles them into the OpenAPI document."""

from __future__ import annotations

import base64
import io
from functools import lru_cache
from typing import Any

from PIL import Image, ImageDraw

from cutout import engine
from cutout.api.openapi.schemas import CREDIT_HEADERS, HINTS_SCHEMA, RATE_HEADERS
from cutout.cutouts.engine_settings import default_pipeline


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
        "another image or other options; or (refine) the cutout cannot be refined any more."
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


def _json(
    schema_ref: str, description: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "description": description,
        "headers": headers or RATE_HEADERS,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


def request_body() -> dict[str, Any]:
    """The image (one of three ways), every engine option (the engine's own list) and async."""
    options = engine.option_properties(default_pipeline=default_pipeline())
    sources = {
        "image_url": {
            "type": "string",
            "description": "http(s) URL of the image; fetched with private addresses refused.",
        },
        "image_b64": {"type": "string", "description": "The image, base64-encoded."},
    }
    hints_text = {
        "type": "string",
        "description": "Hints applied at once (a box around the subject, say), as a JSON list "
        "of Hint objects; free: see POST /api/v1/cutouts/{cutout_id}/refine.",
    }
    multipart = {
        "type": "object",
        "properties": {
            "image": {"type": "string", "format": "binary", "description": "The image file."},
            **sources,
            **options,
            "hints": hints_text,
            "async": {"type": "boolean", "description": "Queue a job instead of waiting."},
        },
    }
    body = {
        "type": "object",
        "properties": {
            **sources,
            **options,
            "hints": {**HINTS_SCHEMA, "description": hints_text["description"]},
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


def _cutouts() -> dict[str, Any]:
    return {
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
            "requestBody": request_body(),
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
    }


def _cutout() -> dict[str, Any]:
    return {
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
    }


def _refine() -> dict[str, Any]:
    options = engine.option_properties(default_pipeline=default_pipeline())
    options.pop("pipeline", None)
    return {
        "post": {
            "operationId": "refineCutout",
            "summary": "Correct a cutout with hints (free)",
            "description": "Send the COMPLETE hint list every time (it replaces the previous "
            "one; [] goes back to the automatic cutout) and, optionally, output options (the "
            "cutout's current ones otherwise; the pipeline never changes). Answers the cutout, "
            "whose result.url is now the refined result at full size, and keeps every call as "
            "a version. The result is a function of the image and the hints: the same list "
            "gives the same bytes. Refining costs no credit (X-Credits-Charged: 0). A cutout "
            "can be refined while its original is kept (editable: the workspace's editing "
            "window, 24 hours by default); after it, 409.",
            "parameters": [
                {
                    "name": "cutout_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["hints"],
                            "properties": {"hints": HINTS_SCHEMA, **options},
                        },
                        "example": {
                            "hints": [
                                {"kind": "box", "box": [12, 8, 52, 60]},
                                {"kind": "remove", "x": 20, "y": 50},
                            ],
                            "mode": "mask",
                        },
                    }
                },
            },
            "responses": {
                "200": _json("Cutout", "The cutout, now at its new version."),
                **_errors("400", "401", "404", "409", "413", "429", "500", "503"),
            },
        }
    }


def _job() -> dict[str, Any]:
    return {
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
    }


def _account() -> dict[str, Any]:
    return {
        "get": {
            "operationId": "getAccount",
            "summary": "Workspace, key, credit balance and usage",
            "responses": {
                "200": _json("Account", "The account."),
                **_errors("401", "429", "500"),
            },
        }
    }


def _models() -> dict[str, Any]:
    return {
        "get": {
            "operationId": "listModels",
            "summary": "Pipelines and models this server runs",
            "responses": {
                "200": _json("Models", "Pipelines and models."),
                **_errors("401", "429", "500"),
            },
        }
    }


def paths() -> dict[str, Any]:
    """Every path of the native API (``/api/v1/...``) with its operations."""
    return {
        "/api/v1/cutouts": _cutouts(),
        "/api/v1/cutouts/{cutout_id}": _cutout(),
        "/api/v1/cutouts/{cutout_id}/refine": _refine(),
        "/api/v1/jobs/{job_id}": _job(),
        "/api/v1/account": _account(),
        "/api/v1/models": _models(),
    }
