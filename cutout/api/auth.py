"""API key authentication for every dialect.

Each dialect reads its own header (``ailabapi-api-key``, ``X-Api-Key``, ``X-RapidAPI-Key``...);
``Authorization: Bearer <key>`` works everywhere. Keys are workspace API keys from accounts.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.http import HttpRequest

from accounts.models import ApiKey
from cutout.api.errors import ApiError


def presented_key(request: HttpRequest, headers: Sequence[str]) -> str:
    """The secret the caller sent, or "" when none."""
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    for header in headers:
        value = request.headers.get(header, "").strip()
        if value:
            return value
    return ""


def authenticate(request: HttpRequest, headers: Sequence[str]) -> ApiKey:
    """The caller's active API key, or :class:`ApiError` ``unauthenticated``."""
    from accounts.selectors import api_key_authenticate

    secret = presented_key(request, headers)
    if not secret:
        names = ", ".join([*headers, "Authorization: Bearer"])
        raise ApiError("unauthenticated", f"Missing API key: send it in {names}.")
    api_key = api_key_authenticate(secret)
    if api_key is None:
        raise ApiError("unauthenticated", "Invalid or revoked API key.")
    return api_key
