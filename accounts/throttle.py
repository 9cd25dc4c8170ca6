"""Slowing down password guessing, mass sign-ups and reset-mail bombing.

Fixed-window counters in Django's cache. With the default local-memory cache each web process
counts on its own (the limits then hold per process); point ``CACHES`` at Redis or memcached to
share them. What is counted, per window:

- ``login_email`` / ``login_ip``: failed sign-ins for one address / from one client;
- ``signup_ip``: accounts created from one client (each one gets trial credits);
- ``reset_email`` / ``reset_ip``: password-reset requests for one address / from one client;
- ``invite_user``: invitation emails sent by one user (to addresses of their choosing).

``CUTOUT_AUTH_THROTTLE`` (a dict ``{rule: (limit, seconds)}``) overrides the defaults; a limit of
0 turns a rule off. The client is ``REMOTE_ADDR``, or, behind ``CUTOUT_TRUSTED_PROXIES`` (how many
reverse proxies append to ``X-Forwarded-For``), the address the outermost one saw.
Identities are hashed before they become cache keys: no email address is stored in the cache.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

DEFAULT_RULES: dict[str, tuple[int, int]] = {
    "login_email": (10, 15 * 60),
    "login_ip": (50, 15 * 60),
    "signup_ip": (10, 60 * 60),
    "reset_email": (3, 60 * 60),
    "reset_ip": (20, 60 * 60),
    "invite_user": (50, 60 * 60),
}
KEY_PREFIX = "cutout:throttle:"


@dataclass(frozen=True)
class Rule:
    name: str
    limit: int
    window: int


def rule(name: str) -> Rule:
    overrides = getattr(settings, "CUTOUT_AUTH_THROTTLE", None) or {}
    limit, window = overrides.get(name, DEFAULT_RULES[name])
    return Rule(name=name, limit=int(limit), window=max(1, int(window)))


def client_ip(request: HttpRequest) -> str:
    """The caller's address: ``REMOTE_ADDR``, or the one the outermost trusted proxy saw."""
    proxies = int(getattr(settings, "CUTOUT_TRUSTED_PROXIES", 0) or 0)
    if proxies > 0:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= proxies:
            return hops[-proxies]
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def _key(r: Rule, identity: str, now: float) -> tuple[str, int]:
    digest = hashlib.sha256(f"{r.name}:{identity.strip().lower()}".encode()).hexdigest()[:32]
    bucket = int(now // r.window)
    return f"{KEY_PREFIX}{r.name}:{digest}:{bucket}", (bucket + 1) * r.window


def wait_seconds(name: str, identity: str) -> int:
    """Seconds until ``identity`` may try again under rule ``name``; 0 when it may now."""
    r = rule(name)
    if r.limit <= 0 or not identity:
        return 0
    now = time.time()
    key, reset = _key(r, identity, now)
    if int(cache.get(key, 0)) < r.limit:
        return 0
    return max(1, int(reset - now))


def hit(name: str, identity: str) -> None:
    """Count one attempt of ``identity`` under rule ``name``."""
    r = rule(name)
    if r.limit <= 0 or not identity:
        return
    key, _reset = _key(r, identity, time.time())
    if not cache.add(key, 1, timeout=r.window + 5):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=r.window + 5)


def message(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return (
        f"Too many attempts. Please wait {minutes} minute{'' if minutes == 1 else 's'} "
        "and try again."
    )
