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
from cutout.api.openapi.samples import APIS, HOST, NATIVE, SAMPLES
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
    "description": "Background removal with local models, with its own API and drop-in "
    "endpoints of seven others: a client written for one of them works by changing only the "
    "host (and the key). Create an API key for your workspace, then send it as "
    "`Authorization: Bearer <key>` (every endpoint) or in the header each API uses. Every "
    "response carries `X-Request-ID`; calls that use a key carry `X-RateLimit-Limit`, "
    "`X-RateLimit-Remaining` and `X-RateLimit-Reset`, and a 429 adds `Retry-After`. Calls that "
    "make a cutout carry `X-Credits-Charged` and `X-Credits-Remaining`; failed requests are "
    "never charged.",
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


def _tags() -> list[dict[str, Any]]:
    return [
        {"name": api.tag, "description": f"Key: `{api.auth}` (or `Authorization: Bearer`). "
         f"{api.notes} Every field, header and error: docs/api.md."}
        for api in APIS
    ]  # fmt: skip


def _with_samples(all_paths: dict[str, Any], origin: str) -> None:
    """Each native operation tagged, and each operation with a copy-paste call given its call."""
    for path, operations in all_paths.items():
        for method, operation in operations.items():
            if path.startswith("/api/v1/"):
                operation["tags"] = [NATIVE]
            sample = SAMPLES.get((method, path), "").replace(HOST, origin)
            if sample:
                operation["x-codeSamples"] = [{"lang": "Shell", "label": "curl", "source": sample}]
                text = operation.get("description", "")
                operation["description"] = f"{text}\n\nExample:\n\n```sh\n{sample}\n```".lstrip()


def document(origin: str = HOST) -> dict[str, Any]:
    """The whole document (a fresh copy: callers may change it); ``origin`` goes into the
    copy-paste calls (the server's own, when served)."""
    security: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyHeader": []}]
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": INFO,
        "servers": [{"url": "/"}],
        "security": security,
        "tags": _tags(),
        "paths": {**paths(), **dialect_paths()},
        "components": _components(),
    }
    fresh = copy.deepcopy(doc)
    _with_samples(fresh["paths"], origin)  # on the copy: the shared path tables stay as they are
    return fresh
