"""Per-key rate limits: counting, headers, and the shared Redis counter used in production."""

from __future__ import annotations

import time
import uuid

import pytest

from cutout.api import ratelimit


def hit(key: str) -> ratelimit.RateLimit:
    state = ratelimit.hit(key)
    assert state is not None
    return state


def test_fixed_window_counts_per_key(settings) -> None:
    settings.CUTOUT_API_RATE_LIMIT = 3
    key = uuid.uuid4().hex
    states = [hit(key) for _ in range(4)]
    assert [s.allowed for s in states] == [True, True, True, False]
    assert [s.remaining for s in states] == [2, 1, 0, 0]
    assert all(s.limit == 3 for s in states)
    assert 0 < states[-1].reset - time.time() <= 3600
    assert 1 <= states[-1].retry_after <= 3600
    assert hit(uuid.uuid4().hex).allowed  # another key, another budget


def test_zero_turns_limits_off(settings) -> None:
    settings.CUTOUT_API_RATE_LIMIT = 0
    assert ratelimit.hit("anything") is None


def test_headers_on_success_and_refusal(client, caller, settings) -> None:
    settings.CUTOUT_API_RATE_LIMIT = 2
    ok = client.get("/api/v1/models", HTTP_AUTHORIZATION=f"Bearer {caller.secret}")
    assert ok.status_code == 200
    assert ok["X-RateLimit-Limit"] == "2" and ok["X-RateLimit-Remaining"] == "1"
    assert int(ok["X-RateLimit-Reset"]) > time.time() and "Retry-After" not in ok
    client.get("/api/v1/models", HTTP_AUTHORIZATION=f"Bearer {caller.secret}")
    refused = client.get("/api/v1/models", HTTP_AUTHORIZATION=f"Bearer {caller.secret}")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert refused["X-RateLimit-Remaining"] == "0" and int(refused["Retry-After"]) >= 1


@pytest.mark.parametrize(
    ("path", "header", "check"),
    [
        (
            "/api/cutout/general/universal-background-removal",
            "HTTP_AILABAPI_API_KEY",
            lambda r: (
                # AILab's table: 429 is "no credits"; its throttling code is a 503
                r.status_code == 503
                and r.json()["error_detail"]["code"] == "AI_SERVICE_FLOW_RESTRICTION"
                and r.json()["error_code"] == 503
            ),
        ),
        (
            "/v1/results",
            "HTTP_X_RAPIDAPI_KEY",
            lambda r: r.status_code == 429 and "Too many requests" in r.json()["detail"],
        ),
        (
            "/v1/remove-background",
            "HTTP_X_API_KEY",
            lambda r: r.status_code == 429 and r.json()["code"] == "rate_limit_exceeded",
        ),
        (
            "/v1.0/removebg",
            "HTTP_X_API_KEY",
            lambda r: (
                r.status_code == 429 and r.json()["errors"][0]["code"] == "rate_limit_exceeded"
            ),
        ),
    ],
)
def test_rate_limit_in_each_dialect(client, caller, settings, path, header, check) -> None:
    settings.CUTOUT_API_RATE_LIMIT = 1
    client.post(path, {}, **{header: caller.secret})
    refused = client.post(path, {}, **{header: caller.secret})
    assert check(refused)
    assert refused["Retry-After"] and refused["X-RateLimit-Limit"] == "1"


@pytest.mark.redis
def test_redis_counter_is_shared(redis_url, settings) -> None:
    settings.CUTOUT_RATELIMIT_REDIS_URL = redis_url
    settings.CUTOUT_API_RATE_LIMIT = 2
    backend = ratelimit.backend()
    assert type(backend).__name__ == "RedisCache"
    key = uuid.uuid4().hex
    assert hit(key).allowed and hit(key).allowed
    assert not hit(key).allowed
    # The count lives in Redis itself: a second client (another web process) sees it.
    import redis

    raw = redis.Redis.from_url(redis_url)
    names = [n.decode() for n in raw.scan_iter(match=f"*{key}*")]
    assert names and int(raw.get(names[0])) == 3  # type: ignore[arg-type]
