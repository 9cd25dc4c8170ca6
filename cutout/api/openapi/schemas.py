"""The native API's JSON schemas (data; the OpenAPI document of :mod:`cutout.api.openapi.document`
puts them under ``components``)."""

from __future__ import annotations

from typing import Any

from cutout.api.errors import KINDS
from cutout.models import Cutout, Job, JobItem

NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_INT = {"type": ["integer", "null"]}
# Why a cutout or a job item failed (null unless it did).
FAILURE: dict[str, Any] = {
    "oneOf": [
        {"type": "null"},
        {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        },
    ]
}


_POINT = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
# One hint of guided refinement (engine.hints): pixels of the image as shown (EXIF applied).
HINT_SCHEMA: dict[str, Any] = {
    "description": "A click ({kind, x, y}: keep = this is the subject, remove = this is not), "
    "a brush stroke ({kind, points, radius}: every pixel within radius of the polyline is "
    "restored or erased, exactly) or a box ({kind: box, box: [x0, y0, x1, y1]}, x1 and y1 "
    "exclusive: the subject lies inside; at most one). Pixels of the image as shown, EXIF "
    "orientation applied; at most 100 hints and 10,000 stroke points in all.",
    "oneOf": [
        {
            "type": "object",
            "required": ["kind", "x", "y"],
            "additionalProperties": False,
            "properties": {
                "kind": {"enum": ["keep", "remove"]},
                "x": {"type": "number", "minimum": 0},
                "y": {"type": "number", "minimum": 0},
            },
        },
        {
            "type": "object",
            "required": ["kind", "points", "radius"],
            "additionalProperties": False,
            "properties": {
                "kind": {"enum": ["keep", "remove"]},
                "points": {"type": "array", "items": _POINT, "minItems": 1},
                "radius": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
            },
        },
        {
            "type": "object",
            "required": ["kind", "box"],
            "additionalProperties": False,
            "properties": {
                "kind": {"const": "box"},
                "box": {
                    "type": "array",
                    "items": {"type": "number", "minimum": 0},
                    "minItems": 4,
                    "maxItems": 4,
                },
            },
        },
    ],
}
HINTS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "maxItems": 100,
    "items": {"$ref": "#/components/schemas/Hint"},
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
        "hints",
        "refined",
        "version",
        "editable",
        "editable_until",
        "original",
    ],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "object": {"const": "cutout"},
        "status": {"type": "string", "enum": list(Cutout.Status.values)},
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
        "error": FAILURE,
        "hints": {
            **HINTS_SCHEMA,
            "description": "The hint list of the current version ([]: the automatic cutout).",
        },
        "refined": {"type": "boolean", "description": "The result comes from hints."},
        "version": {
            "type": "integer",
            "minimum": 0,
            "description": "Number of the current version: 0 is the automatic cutout, each "
            "refine call adds one.",
        },
        "editable": {
            "type": "boolean",
            "description": "Whether it can be refined now: its original is kept (for the "
            "workspace's editing window, 24 hours unless the workspace says otherwise).",
        },
        "editable_until": {
            **NULLABLE_STRING,
            "format": "date-time",
            "description": "End of the editing window (null when not editable, or when the "
            "workspace keeps originals for good).",
        },
        "original": {
            "description": "The kept original (while it is kept), for a before/after view.",
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["url", "expires_in", "width", "height"],
                    "properties": {
                        "url": {"type": "string", "description": "Signed URL, valid 24 hours."},
                        "expires_in": {"type": "integer"},
                        "width": NULLABLE_INT,
                        "height": NULLABLE_INT,
                    },
                },
            ],
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
        "status": {"type": "string", "enum": list(Job.Status.values)},
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
                "waiting": {"type": "integer", "description": "Items waiting for credits"},
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
                    "status": {"type": "string", "enum": list(JobItem.Status.values)},
                    "error": FAILURE,
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
                "code": {"type": "string", "enum": list(KINDS)},
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
