"""Slowing down password guessing, mass sign-ups and reset-mail bombing.

Fixed-window counters kept in the database (:class:`accounts.models.ThrottleCount`), so every
web process counts the same attempts without any extra server: the limits hold for the whole
site, however many gunicorn workers run. (Django's database cache would share them too, but its
``incr`` is a read and a write, so concurrent attempts could be lost; an ``UPDATE ... SET count =
count + 1`` here cannot lose one.) What is counted, per window:

- ``login_email_ip``: failed sign-ins for one address from one client;
- ``login_ip``: failed sign-ins from one client, whatever the address;
- ``login_email``: failed sign-ins for one address from anywhere. Past it the address is under
  attack: each client then gets only ``login_email_ip_attacked`` wrong tries on it;
- ``signup_ip``: accounts created from one client (each one gets trial credits);
- ``reset_email`` / ``reset_ip``: password-reset requests for one address / from one client;
- ``invite_user``: invitation emails sent by one user (to addresses of their choosing).

A sign-in from a client that is not itself throttled is always checked, so the right password
gets in even while others hammer the same address (nobody can lock a known email out); a
throttled client gets no answer about its guesses at all (see :func:`login_wait`).

``CUTOUT_AUTH_THROTTLE`` (a dict ``{rule: (limit, seconds)}``) overrides the defaults; a limit of
0 turns a rule off. The client is ``REMOTE_ADDR``, or, behind ``CUTOUT_TRUSTED_PROXIES`` (how many
reverse proxies append to ``X-Forwarded-For``), the address the outermost one saw.
Identities are hashed before they become keys: no email address is stored with a counter.
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest

from accounts.models import ThrottleCount

DEFAULT_RULES: dict[str, tuple[int, int]] = {
    "login_email_ip": (10, 15 * 60),
    "login_ip": (50, 15 * 60),
    "login_email": (20, 15 * 60),
    "login_email_ip_attacked": (3, 15 * 60),
    "signup_ip": (10, 60 * 60),
    "reset_email": (3, 60 * 60),
    "reset_ip": (20, 60 * 60),
    "invite_user": (50, 60 * 60),
}
KEY_PREFIX = "throttle:"
CLEANUP_CHANCE = 0.01  # of a hit deleting the counters whose window has passed


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
    digest = hashlib.sha256(f"{r.name}:{identity.strip().lower()}".encode()).hexdigest()[:40]
    bucket = int(now // r.window)
    return f"{KEY_PREFIX}{r.name}:{digest}:{bucket}"[:80], (bucket + 1) * r.window


def _count(key: str) -> int:
    return int(ThrottleCount.objects.filter(key=key).values_list("count", flat=True).first() or 0)


def _increment(key: str, reset: int) -> None:
    if ThrottleCount.objects.filter(key=key).update(count=F("count") + 1):
        return
    expires = datetime.fromtimestamp(reset + 5, tz=UTC)
    try:
        with transaction.atomic():
            ThrottleCount.objects.create(key=key, count=1, expires_at=expires)
    except IntegrityError:  # another process created it meanwhile
        ThrottleCount.objects.filter(key=key).update(count=F("count") + 1)


def count(name: str, identity: str) -> int:
    """Attempts of ``identity`` under rule ``name`` in the current window."""
    r = rule(name)
    if r.limit <= 0 or not identity:
        return 0
    return _count(_key(r, identity, time.time())[0])


def wait_seconds(name: str, identity: str, *, limit: int | None = None) -> int:
    """Seconds until ``identity`` may try again under rule ``name`` (at ``limit`` attempts, by
    default the rule's); 0 when it may now."""
    r = rule(name)
    limit = r.limit if limit is None else limit
    if r.limit <= 0 or limit <= 0 or not identity:
        return 0
    now = time.time()
    key, reset = _key(r, identity, now)
    if _count(key) < limit:
        return 0
    return max(1, int(reset - now))


def hit(name: str, identity: str) -> None:
    """Count one attempt of ``identity`` under rule ``name``."""
    r = rule(name)
    if r.limit <= 0 or not identity:
        return
    key, reset = _key(r, identity, time.time())
    _increment(key, reset)
    if random.random() < CLEANUP_CHANCE:
        ThrottleCount.objects.filter(expires_at__lt=datetime.now(tz=UTC)).delete()


def _pair(email: str, ip: str) -> str:
    return f"{email.strip().lower()}|{ip}" if email else ""


def login_wait(email: str, ip: str) -> int:
    """Seconds this client must wait before its next sign-in attempt for ``email`` (0: now).

    Only the client's own record counts: its failures overall, its failures on this address,
    and (while the address is under attack from anywhere) a much smaller budget of those.
    """
    waits = [wait_seconds("login_ip", ip), wait_seconds("login_email_ip", _pair(email, ip))]
    if email and wait_seconds("login_email", email):
        attacked = rule("login_email_ip_attacked").limit
        waits.append(wait_seconds("login_email_ip", _pair(email, ip), limit=attacked))
    return max(waits)


def login_failed(email: str, ip: str) -> None:
    """Count one wrong password for ``email`` from client ``ip``."""
    hit("login_ip", ip)
    hit("login_email", email)
    hit("login_email_ip", _pair(email, ip))


def message(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return (
        f"Too many attempts. Please wait {minutes} minute{'' if minutes == 1 else 's'} "
        "and try again."
    )
