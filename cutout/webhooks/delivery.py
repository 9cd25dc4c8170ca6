"""Sending a webhook delivery: one signed POST per attempt, never inside a transaction.

An attempt has three steps. A short transaction claims it (the delivery row is locked only
while its attempt count moves on); the POST goes out with no transaction and no lock held (an
endpoint that answers slowly holds nothing of ours); a second short transaction records the
outcome. While an attempt is out, its claim keeps the delivery from being sent again: a copy of
the task finds the attempt already counted, and the beat sweep does not find the delivery due.

Signature: header ``Cutout-Signature: t=<unix time>,v1=<hex HMAC-SHA256>`` over
``"<t>.<raw body>"`` with the endpoint's secret (the scheme Stripe uses); receivers recompute it
and refuse stale timestamps (:func:`signature_verify` is the reference check).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.db import transaction
from django.utils import timezone

from cutout import metrics
from cutout.files.remote import UrlFetchError, check_url
from cutout.models import WebhookDelivery
from cutout.webhooks.services import (
    REQUEUE_AFTER,
    URL_REFUSALS,
    WebhookUrlError,
    endpoint_disable,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Cutout-Signature"
TIMEOUT_S = 10.0
USER_AGENT = "Cutout-Webhooks/1.0"
RETRY_DELAYS = (60, 300, 1800, 7200, 21600, 43200)  # seconds after attempts 1, 2, ...
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
EXCERPT_CHARS = 500
SIGNATURE_TOLERANCE_S = 300
# How long a claimed attempt keeps others off (far longer than one POST may take).
SENDING_LEASE = REQUEUE_AFTER


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The ``Cutout-Signature`` header value for ``body``."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def signature_verify(
    secret: str, header: str, body: bytes, *, tolerance: int = SIGNATURE_TOLERANCE_S
) -> bool:
    """Reference check for receivers: right secret, untouched body, recent timestamp."""
    try:
        parts = dict(part.split("=", 1) for part in header.split(","))
        t = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - t) > tolerance:
        return False
    expected = sign(secret, body, timestamp=t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def retry_delay(attempts: int) -> int:
    """Seconds to wait after ``attempts`` failed attempts (with jitter so retries spread out)."""
    base = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
    return int(base * random.uniform(0.9, 1.1))


@dataclass(frozen=True)
class _Outcome:
    status: int | None
    excerpt: str
    error: str
    duration_ms: int
    refused: bool = False  # the URL itself is not allowed: no retry, the endpoint stops


def delivery_attempt(
    *, delivery_id: Any, attempt: int | None = None, transport: httpx.BaseTransport | None = None
) -> WebhookDelivery | None:
    """Make attempt number ``attempt`` (default: the next one) to send a delivery.

    Idempotent: a delivery already sent, given up, or past that attempt is left alone, and a
    delivery being sent by another process right now is skipped. Returns the delivery.
    """
    delivery, claimed = _claim(delivery_id, attempt)
    if delivery is None or not claimed:
        return delivery
    outcome = _send(delivery, transport=transport)
    return _record(delivery, outcome)


def _in_flight(delivery: WebhookDelivery, now: datetime) -> bool:
    """Another process claimed an attempt and has not recorded its outcome yet."""
    started = delivery.last_attempt_at
    return started is not None and delivery.duration_ms is None and started > now - SENDING_LEASE


def _claim(delivery_id: Any, attempt: int | None) -> tuple[WebhookDelivery | None, bool]:
    """Count the attempt in a short transaction; False when it is not ours to make."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .filter(id=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
            return delivery, False
        if attempt is not None and delivery.attempts != attempt - 1:
            return delivery, False  # a stale copy of the task: that attempt already happened
        if _in_flight(delivery, now):
            return delivery, False
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.duration_ms = None  # the claim's mark: unset until the outcome is recorded
        delivery.next_attempt_at = now + SENDING_LEASE  # not due while it is being sent
        delivery.save(
            update_fields=["attempts", "last_attempt_at", "duration_ms", "next_attempt_at"]
        )
    return delivery, True


def _send(delivery: WebhookDelivery, *, transport: httpx.BaseTransport | None) -> _Outcome:
    """The POST itself; no transaction is open and no row is locked."""
    endpoint = delivery.endpoint
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    started = time.perf_counter()
    status: int | None = None
    excerpt = ""
    error = ""
    refused = False
    if not endpoint.is_active:
        error = "The endpoint was disabled."
    else:
        try:
            status, excerpt = _post(endpoint.url, endpoint.secret, delivery, body, transport)
        except WebhookUrlError as exc:
            error = exc.message
            refused = exc.code in URL_REFUSALS
        except httpx.TimeoutException:
            error = f"No answer within {TIMEOUT_S:.0f} seconds."
        except httpx.HTTPError as exc:
            error = f"Could not connect ({type(exc).__name__})."
    duration_ms = round((time.perf_counter() - started) * 1000)
    return _Outcome(
        status=status, excerpt=excerpt, error=error, duration_ms=duration_ms, refused=refused
    )


def _record(claimed: WebhookDelivery, outcome: _Outcome) -> WebhookDelivery | None:
    """Write the attempt's outcome, unless the delivery moved on (or went) meanwhile."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(id=claimed.id, attempts=claimed.attempts, status=WebhookDelivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            return WebhookDelivery.objects.filter(id=claimed.id).first()
        delivery.duration_ms = outcome.duration_ms
        delivery.response_status = outcome.status
        delivery.response_excerpt = outcome.excerpt
        if outcome.status is not None and 200 <= outcome.status < 300:
            delivery.status = WebhookDelivery.Status.SUCCEEDED
            delivery.delivered_at = timezone.now()
            delivery.error = ""
            delivery.next_attempt_at = None
        else:
            delivery.error = outcome.error or f"The endpoint answered HTTP {outcome.status}."
            if outcome.refused:  # no retry can make the URL allowed: stop the endpoint now
                endpoint_disable(endpoint_id=delivery.endpoint_id, reason=outcome.error)
            if (
                delivery.attempts >= MAX_ATTEMPTS
                or outcome.refused
                or not delivery.endpoint.is_active
            ):
                delivery.status = WebhookDelivery.Status.FAILED
                delivery.next_attempt_at = None
                logger.info("webhook delivery %s failed for good: %s", delivery.id, delivery.error)
            else:
                started = claimed.last_attempt_at or timezone.now()
                wait = timedelta(seconds=retry_delay(delivery.attempts))
                delivery.next_attempt_at = started + wait
        delivery.save()
    outcome_label = {
        WebhookDelivery.Status.SUCCEEDED: "delivered",
        WebhookDelivery.Status.FAILED: "failed",
    }.get(delivery.status, "retrying")  # type: ignore[call-overload]
    metrics.WEBHOOK_DELIVERIES.labels(outcome=outcome_label).inc()
    return delivery


def _post(
    url: str,
    secret: str,
    delivery: WebhookDelivery,
    body: bytes,
    transport: httpx.BaseTransport | None,
) -> tuple[int, str]:
    try:
        target = check_url(url)  # resolves and refuses private addresses, every attempt
    except UrlFetchError as exc:
        raise WebhookUrlError(f"Not sent: {exc.message}", exc.code) from None
    headers = {
        "Host": target.host_header,
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json",
        "Cutout-Event": delivery.event,
        "Cutout-Delivery": str(delivery.id),
        SIGNATURE_HEADER: sign(secret, body),
    }
    timeout = httpx.Timeout(TIMEOUT_S, connect=5.0)
    with httpx.Client(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    ) as client:
        request = client.build_request(
            "POST", target.pinned_url, headers=headers, content=body, extensions=target.extensions
        )
        response = client.send(request, stream=True)
        try:
            raw = b""
            for chunk in response.iter_bytes(1024):
                raw += chunk
                if len(raw) >= EXCERPT_CHARS:
                    break
            return response.status_code, raw[:EXCERPT_CHARS].decode("utf-8", "replace")
        finally:
            response.close()
