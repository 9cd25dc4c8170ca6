"""Per-API-key rate limits: a fixed window counter in a shared cache.

The counter lives in Redis when ``CUTOUT_RATELIMIT_REDIS_URL`` is set (or, failing that, when the
Celery broker is Redis), so every web process on every machine shares one count per key. Without
Redis it falls back to Django's default cache (local memory: per process, fine for one server).

Settings: ``CUTOUT_API_RATE_LIMIT`` (requests per window, default 60; 0 turns limits off) and
``CUTOUT_API_RATE_WINDOW`` (seconds, default 60).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.http import HttpResponse

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 60
DEFAULT_WINDOW = 60
KEY_PREFIX = "cutout:rl:"


@dataclass(frozen=True)
class RateLimit:
    limit: int
    remaining: int
    reset: int  # Unix time at which the window resets
    allowed: bool

    @property
    def retry_after(self) -> int:
        return max(1, self.reset - int(time.time()))

    def apply(self, response: HttpResponse) -> None:
        response["X-RateLimit-Limit"] = str(self.limit)
        response["X-RateLimit-Remaining"] = str(self.remaining)
        response["X-RateLimit-Reset"] = str(self.reset)
        if not self.allowed:
            response["Retry-After"] = str(self.retry_after)


def redis_url() -> str:
    url = getattr(settings, "CUTOUT_RATELIMIT_REDIS_URL", "") or os.environ.get(
        "CUTOUT_RATELIMIT_REDIS_URL", ""
    )
    if url:
        return str(url)
    broker = str(getattr(settings, "CELERY_BROKER_URL", "") or "")
    return broker if broker.startswith(("redis://", "rediss://")) else ""


@lru_cache(maxsize=4)
def _redis_cache(url: str) -> BaseCache:
    from django.core.cache.backends.redis import RedisCache

    return RedisCache(url, {"KEY_PREFIX": "", "TIMEOUT": DEFAULT_WINDOW * 2})


def backend() -> BaseCache:
    url = redis_url()
    if url:
        return _redis_cache(url)
    return caches["default"]


def limits() -> tuple[int, int]:
    limit = int(getattr(settings, "CUTOUT_API_RATE_LIMIT", DEFAULT_LIMIT))
    window = max(1, int(getattr(settings, "CUTOUT_API_RATE_WINDOW", DEFAULT_WINDOW)))
    return limit, window


def hit(key: str, *, limit: int | None = None, window: int | None = None) -> RateLimit | None:
    """Count one request for ``key``; None when rate limiting is off.

    If the cache is down the request is let through (and logged): an outage of the counter
    must not become an outage of the API.
    """
    default_limit, default_window = limits()
    limit = default_limit if limit is None else limit
    window = default_window if window is None else window
    if limit <= 0:
        return None
    now = time.time()
    bucket = int(now // window)
    reset = (bucket + 1) * window
    cache_key = f"{KEY_PREFIX}{key}:{window}:{bucket}"
    cache = backend()
    try:
        cache.add(cache_key, 0, timeout=window + 5)
        count = int(cache.incr(cache_key))
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=window + 5)
        count = 1
    except Exception:  # the counter is best effort; the API keeps serving
        logger.exception("rate limit counter unavailable; request let through")
        return None
    return RateLimit(
        limit=limit, remaining=max(limit - count, 0), reset=reset, allowed=count <= limit
    )


MONTH_S = 32 * 24 * 3600  # a month's counter outlives the month


def monthly_hit(key: str, cap: int) -> bool:
    """Count one request for ``key`` in this calendar month (UTC); whether it is within ``cap``.
    Best effort like :func:`hit`: a counter outage lets the request through."""
    month = time.strftime("%Y-%m", time.gmtime())
    cache_key = f"{KEY_PREFIX}{key}:month:{month}"
    cache = backend()
    try:
        cache.add(cache_key, 0, timeout=MONTH_S)
        count = int(cache.incr(cache_key))
    except ValueError:
        cache.set(cache_key, 1, timeout=MONTH_S)
        count = 1
    except Exception:
        logger.exception("monthly counter unavailable; request let through")
        return True
    return count <= cap
