"""Signed tokens for email links, and API-key secrets.

Email links carry a :mod:`django.core.signing` token (HMAC with ``SECRET_KEY``, timestamped, a salt
per purpose), so they cannot be forged or reused for another purpose. API-key secrets are random;
only their public prefix and an HMAC-SHA256 keyed with ``CUTOUT_KEY_PEPPER`` are stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing

INVITATION_SALT = "cutout.accounts.invitation"
VERIFY_SALT = "cutout.accounts.verify-email"
INVITATION_TTL = timedelta(days=7)
VERIFY_TTL = timedelta(days=3)

KEY_SCHEME = "ck"
KEY_ALPHABET = string.ascii_lowercase + string.digits
KEY_PREFIX_LENGTH = 10
KEY_RANDOM_LENGTH = 40  # 40 characters of 36 symbols: about 206 bits
KEY_MAX_LENGTH = len(KEY_SCHEME) + 2 + KEY_PREFIX_LENGTH + KEY_RANDOM_LENGTH


def sign(value: Any, *, salt: str) -> str:
    return signing.dumps(value, salt=salt, compress=True)


def unsign(token: str, *, salt: str, max_age: timedelta) -> Any:
    """The signed value; raises ``signing.BadSignature`` (or ``SignatureExpired``) otherwise."""
    return signing.loads(token, salt=salt, max_age=max_age)


def random_string(length: int) -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(length))


def new_api_key_secret() -> tuple[str, str]:
    """A fresh ``(prefix, secret)``; the secret reads ``ck_<prefix>_<random>``."""
    prefix = random_string(KEY_PREFIX_LENGTH)
    return prefix, f"{KEY_SCHEME}_{prefix}_{random_string(KEY_RANDOM_LENGTH)}"


def parse_api_key_prefix(secret: str) -> str | None:
    """The prefix of a well-formed secret, or None for anything else."""
    if not secret or len(secret) != KEY_MAX_LENGTH:
        return None
    parts = secret.split("_")
    if len(parts) != 3 or parts[0] != KEY_SCHEME:
        return None
    prefix, rest = parts[1], parts[2]
    if len(prefix) != KEY_PREFIX_LENGTH or len(rest) != KEY_RANDOM_LENGTH:
        return None
    if not set(prefix + rest) <= set(KEY_ALPHABET):
        return None
    return prefix


def hash_api_key(secret: str) -> str:
    """HMAC-SHA256 of the whole secret, keyed with the server-side pepper (hex)."""
    pepper = str(settings.CUTOUT_KEY_PEPPER).encode()
    return hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()


def api_key_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(secret), stored_hash)
