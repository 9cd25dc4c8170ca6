"""API key authentication for every dialect.

Each dialect reads its own header (``ailabapi-api-key``, ``X-Api-Key``, ``X-RapidAPI-Key``...);
``Authorization: Bearer <key>`` works everywhere, and so does HTTP Basic with the key as the
password (Pixian's ``-u id:secret``; the user name is not checked). Keys are workspace API keys
from accounts.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from django.conf import settings
from django.http import HttpRequest

from accounts.models import ApiKey
from accounts.selectors import api_key_authenticate
from cutout.api.errors import ApiError


def presented_key(request: HttpRequest, headers: Sequence[str]) -> str:
    """The secret the caller sent, or "" when none."""
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2].strip()
    for header in headers:
        value = request.headers.get(header, "").strip()
        if value:
            return value
    return ""


def anonymous_key(setting: str) -> ApiKey | None:
    """The key an operator lets unauthenticated calls of one dialect use, if any.

    ``setting`` names a Django setting holding an API key *prefix* (the public part shown in the
    key list). Such calls are charged, capped and rate-limited as that key; revoking it ends them.
    """
    prefix = str(getattr(settings, setting, "") or "").strip()
    if not prefix:
        return None
    return (
        ApiKey.objects.select_related("workspace")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )


def authenticate(
    request: HttpRequest, headers: Sequence[str], *, anonymous_setting: str = ""
) -> ApiKey:
    """The caller's active API key, or :class:`ApiError` ``unauthenticated``."""
    secret = presented_key(request, headers)
    if not secret and anonymous_setting:
        fallback = anonymous_key(anonymous_setting)
        if fallback is not None:
            return fallback
    if not secret:
        names = ", ".join([*headers, "Authorization: Bearer"])
        raise ApiError("unauthenticated", f"Missing API key: send it in {names}.")
    api_key = api_key_authenticate(secret)
    if api_key is None:
        raise ApiError("unauthenticated", "Invalid or revoked API key.")
    return api_key
