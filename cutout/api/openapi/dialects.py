"""The drop-in dialects' operations for the OpenAPI document: one entry per endpoint, with its own
auth, fields, answers and error shape (what docs/api.md describes field by field).

Each dialect answers errors in its own shape under ``default`` (every status it may send: see
docs/api.md for which), so one document covers all eight APIs and schemathesis checks them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STRING: dict[str, Any] = {"type": "string"}
FILE: dict[str, Any] = {"type": "string", "format": "binary"}
BOOL_TEXT: dict[str, Any] = {"type": "string", "enum": ["true", "false"]}
IMAGES = ("image/png", "image/jpeg", "image/webp")

SECURITY: dict[str, dict[str, Any]] = {
    "removebgKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
    "ailabKey": {"type": "apiKey", "in": "header", "name": "ailabapi-api-key"},
    "rapidApiKey": {"type": "apiKey", "in": "header", "name": "X-RapidAPI-Key"},
    "xApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
    "basicAuth": {
        "type": "http",
        "scheme": "basic",
        "description": "id:secret; the secret is the key",
    },
}


def _obj(required: tuple[str, ...], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": props}


ERROR_SHAPES: dict[str, dict[str, Any]] = {
    "removebg": _obj(
        ("errors",),
        errors={
            "type": "array",
            "items": _obj(("title",), title=STRING, code=STRING, detail=STRING),
        },
    ),
    "ailab": _obj(
        ("error_code", "error_detail"),
        request_id=STRING,
        log_id=STRING,
        error_code={"type": "integer"},
        error_code_str=STRING,
        error_msg=STRING,
        error_detail=_obj(
            ("status_code",), status_code={"type": "integer"}, code=STRING, message=STRING
        ),
    ),
    "api4ai": _obj(("detail",), detail=STRING),
    "seed004": _obj(("code", "message"), code=STRING, message=STRING, details=STRING),
    "pixian": _obj(
        ("error",),
        error=_obj(
            ("status", "code", "message"),
            status={"type": "integer"},
            code={"type": "integer"},
            message=STRING,
        ),
    ),
    "photoroom": _obj(
        ("detail", "status_code", "type"),
        detail=STRING,
        status_code={"type": "integer"},
        type=STRING,
    ),
    "clipdrop": _obj(("error",), error=STRING),
}


@dataclass(frozen=True)
class Op:
    dialect: str
    tag: str
    method: str
    path: str
    summary: str
    security: str
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    success: tuple[str, ...] = IMAGES  # content types of a 200
    json_success: dict[str, Any] | None = None  # the 200's JSON schema, when it may be JSON
    query: dict[str, dict[str, Any]] = field(default_factory=dict)


REMOVEBG_FIELDS = {
    "image_file": FILE,
    "image_file_b64": STRING,
    "image_url": STRING,
    "size": {"type": "string", "enum": ["preview", "small", "regular", "medium", "hd", "full",
                                         "4k", "auto", "50MP"]},
    "type": STRING,
    "type_level": STRING,
    "format": {"type": "string", "enum": ["auto", "png", "jpg", "webp", "zip"]},
    "roi": STRING,
    "crop": BOOL_TEXT,
    "crop_margin": STRING,
    "scale": STRING,
    "position": STRING,
    "channels": {"type": "string", "enum": ["rgba", "alpha"]},
    "bg_color": STRING,
    "bg_image_url": STRING,
    "bg_image_file": FILE,
    "semitransparency": BOOL_TEXT,
    "shadow_type": STRING,
    "shadow_opacity": STRING,
    "add_shadow": BOOL_TEXT,
}  # fmt: skip
AILAB_FIELDS = {"image": FILE, "return_form": STRING}
AILAB_OK = _obj(
    ("error_code", "data"),
    error_code={"type": "integer"},
    data=_obj(("image_url",), image_url=STRING),
)

OPS: tuple[Op, ...] = (
    Op("removebg", "remove.bg", "post", "/v1.0/removebg", "remove.bg: remove the background",
       "removebgKey", REMOVEBG_FIELDS, (*IMAGES, "application/zip"),
       _obj(("data",), data=_obj(("result_b64",), result_b64=STRING))),
    Op("removebg", "remove.bg", "get", "/v1.0/account", "remove.bg: credit balance", "removebgKey",
       success=(), json_success=_obj(("data",), data={"type": "object"})),
    *(
        Op("ailab", "AILabTools", "post", f"/api/cutout/general/{name}-background-removal",
           f"AILabTools: {name} background removal", "ailabKey", AILAB_FIELDS, (), AILAB_OK)
        for name in ("universal", "food", "commodity")
    ),
    Op("ailab", "AILabTools", "get", "/api/common/query-credits", "AILabTools: credits",
       "ailabKey", success=(), json_success=_obj(("data",), data={"type": "array"})),
    Op("api4ai", "API4AI", "post", "/v1/results", "API4AI: remove the background", "rapidApiKey",
       {"image": FILE, "url": STRING}, (), _obj(("results",), results={"type": "array"}),
       query={"mode": {"type": "string", "enum": ["fg-image", "fg-image-shadow", "fg-mask"]}}),
    *(
        Op("seed004", "poof.bg (seed 004)", "post", path, "poof.bg: remove the background",
           "xApiKey", {"image_file": FILE, "image": FILE, "format": STRING, "channels": STRING,
                       "bg_color": STRING, "size": STRING, "crop": BOOL_TEXT})
        for path in ("/v1/remove", "/v1/remove-background")
    ),
    Op("pixian", "Pixian", "post", "/api/v2/remove-background", "Pixian: remove the background",
       "basicAuth", {"image": FILE, "image.url": STRING, "image.base64": STRING, "test": BOOL_TEXT,
                     "max_pixels": STRING, "background.color": STRING,
                     "result.crop_to_foreground": BOOL_TEXT, "result.margin": STRING,
                     "output.format": {"type": "string", "enum": ["auto", "png", "jpeg"]},
                     "output.jpeg_quality": STRING}, ("image/png", "image/jpeg")),
    Op("pixian", "Pixian", "get", "/api/v2/account", "Pixian: account", "basicAuth",
       success=(), json_success=_obj(("credits",), credits={"type": "integer"})),
    Op("photoroom", "Photoroom", "post", "/v1/segment", "Photoroom: remove the background",
       "xApiKey", {"image_file": FILE, "format": {"type": "string", "enum": ["png", "jpg", "webp"]},
                   "channels": {"type": "string", "enum": ["rgba", "alpha"]}, "bg_color": STRING,
                   "size": {"type": "string", "enum": ["preview", "medium", "hd", "full"]},
                   "crop": BOOL_TEXT, "despill": BOOL_TEXT},
       IMAGES, _obj(("base64img",), base64img=STRING)),
    Op("photoroom", "Photoroom", "get", "/v1/account", "Photoroom: account", "xApiKey",
       success=(), json_success=_obj(("credits",), credits={"type": "object"})),
    Op("clipdrop", "Clipdrop", "post", "/remove-background/v1", "Clipdrop: remove the background",
       "xApiKey", {"image_file": FILE, "transparency_handling": {
           "type": "string", "enum": ["return_input_if_non_opaque", "discard_alpha_layer"]}}),
)  # fmt: skip


def _operation(op: Op) -> dict[str, Any]:
    content: dict[str, Any] = {media: {"schema": FILE} for media in op.success}
    if op.json_success is not None:
        content["application/json"] = {"schema": op.json_success}
    error_content: dict[str, Any] = {"application/json": {"schema": ERROR_SHAPES[op.dialect]}}
    if op.dialect == "api4ai":  # its 413 is plain text, as API4AI's own
        error_content["text/plain"] = {"schema": STRING}
    operation: dict[str, Any] = {
        "tags": [op.tag],
        "summary": op.summary,
        "description": f"Drop-in {op.tag} endpoint: see docs/api.md for every field.",
        "security": [{op.security: []}, {"bearerAuth": []}],
        "responses": {
            "200": {"description": "The result.", "content": content},
            "default": {
                "description": f"An error in {op.tag}'s own shape.",
                "content": error_content,
            },
        },
    }
    if op.fields:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": {"type": "object", "properties": op.fields}}
            },
        }
    if op.query:
        operation["parameters"] = [
            {"name": name, "in": "query", "required": False, "schema": schema}
            for name, schema in op.query.items()
        ]
    return operation


def dialect_paths() -> dict[str, Any]:
    """``paths`` entries of every dialect's endpoints."""
    out: dict[str, Any] = {}
    for op in OPS:
        out.setdefault(op.path, {})[op.method] = _operation(op)
    return out
