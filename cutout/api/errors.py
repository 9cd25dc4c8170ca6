"""One error vocabulary for every dialect.

Views and helpers raise :class:`ApiError` with a canonical ``kind``; each dialect module turns a
kind into its own status code and envelope. Every other error of ours is translated by the one
table, :data:`cutout.errors.ERRORS`, so no dialect has to know where an error came from.
"""

from __future__ import annotations

from typing import Any

from cutout.errors import CutoutError, meaning_of

# The canonical kinds and the HTTP status most dialects use for them.
KINDS: dict[str, int] = {
    "unauthenticated": 401,
    "forbidden": 403,
    "missing_image": 400,
    "multiple_images": 400,
    "invalid_parameter": 400,
    "file_too_large": 400,
    "request_too_large": 413,
    "unsupported_format": 400,
    "invalid_image": 400,
    "image_too_small": 400,
    "image_too_large": 400,
    "unknown_foreground": 400,
    "fetch_failed": 400,
    "insufficient_credits": 402,
    "monthly_cap_exceeded": 402,
    "rate_limited": 429,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "unavailable": 503,
    "internal": 500,
}


class ApiError(CutoutError):
    """An error as the API answers it: a canonical ``kind`` (also its ``code``)."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        field: str | None = None,
        detail: str = "",
        extra: dict[str, Any] | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown API error kind {kind!r}")
        super().__init__(message, code=kind, field=field)
        self.kind = kind
        self.field = field
        self.detail = detail
        self.extra = extra or {}

    @property
    def status(self) -> int:
        return KINDS[self.kind]

    def __repr__(self) -> str:
        return f"ApiError({self.kind!r}, {self.message!r})"


def from_exception(exc: BaseException) -> ApiError | None:
    """The ApiError for one of our errors (see :data:`cutout.errors.ERRORS`); None for any other."""
    if isinstance(exc, ApiError):
        return exc
    found = meaning_of(exc)
    if found is None:
        return None
    _code, meaning = found
    message = meaning.api_message or str(getattr(exc, "message", "") or exc)
    return ApiError(meaning.api_kind, message, field=getattr(exc, "field", None))
