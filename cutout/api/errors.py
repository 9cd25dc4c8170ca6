"""One error vocabulary for every dialect.

Views and helpers raise :class:`ApiError` with a canonical ``kind``; each dialect module turns a
kind into its own status code and envelope. Engine, billing and fetch errors are translated here,
so no dialect has to know where an error came from.
"""

from __future__ import annotations

from typing import Any

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


class ApiError(Exception):
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
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.field = field
        self.detail = detail
        self.extra = extra or {}

    @property
    def status(self) -> int:
        return KINDS[self.kind]

    def __repr__(self) -> str:
        return f"ApiError({self.kind!r}, {self.message!r})"


_ENGINE_KINDS = {
    "invalid_image": "invalid_image",
    "unsupported_format": "unsupported_format",
    "image_too_large": "file_too_large",
    "image_too_small": "image_too_small",
    "too_many_pixels": "image_too_large",
    "invalid_option": "invalid_parameter",
    "model_missing": "unavailable",
}

_FETCH_KINDS = {
    "too_large": "file_too_large",
    "bad_content_type": "unsupported_format",
}


def from_exception(exc: BaseException) -> ApiError | None:
    """The ApiError for an engine, billing or fetch error; None for anything else."""
    if isinstance(exc, ApiError):
        return exc
    from billing import errors as billing_errors
    from cutout.engine import EngineError
    from cutout.files.remote import UrlFetchError as FetchError
    from cutout.services import CutoutInProgress, IdempotencyKeyReused

    if isinstance(exc, EngineError):
        kind = _ENGINE_KINDS.get(exc.code, "invalid_image")
        if kind == "unavailable":
            return ApiError(kind, "The service cannot process images right now; try again later.")
        return ApiError(kind, exc.message, field=getattr(exc, "field", None))
    if isinstance(exc, billing_errors.InsufficientCredits):
        return ApiError("insufficient_credits", exc.message)
    if isinstance(exc, billing_errors.MonthlyCapExceeded):
        return ApiError("monthly_cap_exceeded", exc.message)
    if isinstance(exc, FetchError):
        return ApiError(_FETCH_KINDS.get(exc.code, "fetch_failed"), exc.message, field="url")
    if isinstance(exc, CutoutInProgress | IdempotencyKeyReused):
        return ApiError("conflict", str(exc))
    return None
