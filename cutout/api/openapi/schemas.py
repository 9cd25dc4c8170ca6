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
