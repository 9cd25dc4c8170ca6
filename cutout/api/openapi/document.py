"""The OpenAPI 3.1 document (``/api/openapi.json``): the native API and every drop-in dialect
(:mod:`~cutout.api.openapi.dialects`).

Hand-written on purpose: it is the contract, and tests run schemathesis against it, so every
status code and field the views return is declared here. The schemas are in
:mod:`~cutout.api.openapi.schemas`, the operations in :mod:`~cutout.api.openapi.paths`.
"""

from __future__ import annotations

import copy
from typing import Any

from cutout.api.openapi.dialects import SECURITY, dialect_paths
from cutout.api.openapi.paths import paths
from cutout.api.openapi.schemas import (
    ACCOUNT_SCHEMA,
    CUTOUT_SCHEMA,
    ERROR_SCHEMA,
    HINT_SCHEMA,
    JOB_SCHEMA,
    MODELS_SCHEMA,
)

INFO: dict[str, Any] = {
    "title": "Cutout API",
    "version": "1.0.0",
    "description": "Background removal with local models. One credit per successful "
    "cutout; failed requests and identical repeats (same image and options in the same "
    "workspace) cost nothing. Authenticate with a workspace API key.",
}


def _components() -> dict[str, Any]:
    return {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "Authorization: Bearer ck_…",
            },
            "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            **SECURITY,
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
            "Hint": HINT_SCHEMA,
        },
    }


def document() -> dict[str, Any]:
    """The whole document (a fresh copy: callers may change it)."""
    security: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyHeader": []}]
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": INFO,
        "servers": [{"url": "/"}],
        "security": security,
        "paths": {**paths(), **dialect_paths()},
        "components": _components(),
    }
    return copy.deepcopy(doc)
