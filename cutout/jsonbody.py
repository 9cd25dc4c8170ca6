"""Reading a JSON request body within limits: size and nesting depth.

Every endpoint that accepts JSON (the remove.bg and native APIs, the Stripe webhook) reads it with
:func:`json_body`, so none of them can be made to recurse without end or to hold an arbitrarily
large document. ``json.loads`` itself recurses once per level and fails with ``RecursionError``
around a thousand levels deep; bodies are refused long before that (:data:`MAX_DEPTH`), and the
depth is measured without recursion. Imports nothing of the project (billing uses it too).
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32  # no request of ours nests more than a few levels


class JsonBodyError(ValueError):
    """The body is not JSON we accept; ``code``: ``invalid_json``, ``json_too_deep`` or
    ``json_too_large``. A ``ValueError``, so callers that refuse bad JSON refuse this too."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def depth_of(value: Any) -> int:
    """How deeply ``value`` nests lists and objects (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def json_body(raw: bytes | str, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """The parsed body, or :class:`JsonBodyError` when it is too large, too deep or not JSON."""
    if len(raw) > max_bytes:
        raise JsonBodyError("json_too_large", f"The JSON body is larger than {max_bytes} bytes.")
    try:
        value = json.loads(raw)
    except RecursionError:
        value = None
        too_deep = True
    except (ValueError, UnicodeDecodeError):
        raise JsonBodyError("invalid_json", "The JSON body could not be parsed.") from None
    else:
        too_deep = depth_of(value) > max_depth
    if too_deep:
        raise JsonBodyError("json_too_deep", f"The JSON body nests deeper than {max_depth} levels.")
    return value
