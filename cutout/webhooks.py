"""Completion webhooks: tell a workspace's own server when its jobs finish.

A workspace registers endpoints (URL + generated secret). When a job finishes, each active
endpoint gets one :class:`~cutout.models.WebhookDelivery` (the workspace's delivery log) and a
Celery task POSTs it:

- Body: JSON ``{"id", "type": "job.completed", "created", "data": {"job": {...}}}``.
- Signature: header ``Cutout-Signature: t=<unix time>,v1=<hex HMAC-SHA256>`` over
  ``"<t>.<raw body>"`` with the endpoint's secret (the scheme Stripe uses). Receivers recompute it
  and refuse stale timestamps (:func:`signature_verify` is the reference check). Headers
  ``Cutout-Event`` and ``Cutout-Delivery`` (the delivery id, stable across retries: use it to
  drop duplicates) come along.
- Safety: every attempt goes through the SSRF guard of :mod:`cutout.files.remote` (the URL must resolve
  to public addresses only, and the connection goes to the checked address); no redirects are
  followed; short timeouts; only an excerpt of the answer is kept.
- Retries: any answer other than 2xx, or no answer, is tried again with growing delays
  (:data:`RETRY_DELAYS`: about 1 min, 5 min, 30 min, 2 h, 6 h, 12 h), then marked failed. A beat
  task (:func:`deliveries_due`) picks up due retries, so no retry waits in the broker for hours.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import random
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
from django.db import transaction
from django.utils import timezone

from accounts.models import Workspace
from cutout.files import storage
from cutout.models import Job, JobItem, WebhookDelivery, WebhookEndpoint

if TYPE_CHECKING:
    from accounts.models import User
    from cutout.jobs import JobProgress

logger = logging.getLogger(__name__)

EVENT_JOB_COMPLETED = "job.completed"
EVENT_PING = "ping"
SIGNATURE_HEADER = "Cutout-Signature"
TIMEOUT_S = 10.0
USER_AGENT = "Cutout-Webhooks/1.0"
RETRY_DELAYS = (60, 300, 1800, 7200, 21600, 43200)  # seconds after attempts 1, 2, ...
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
MAX_ITEMS_IN_PAYLOAD = 100
EXCERPT_CHARS = 500
SIGNATURE_TOLERANCE_S = 300
REQUEUE_AFTER = timedelta(minutes=5)


class WebhookUrlError(ValueError):
    def __init__(self, message: str, code: str = "invalid_url") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ---------------------------------------------------------------------------------------------
# Endpoints


def url_check(url: str) -> str:
    """The URL, cleaned, if webhooks may be sent to it now; :class:`WebhookUrlError` if not."""
    from cutout.files.remote import UrlFetchError as FetchError
    from cutout.files.remote import check_url as _target

    url = (url or "").strip()
    if not url:
        raise WebhookUrlError("Enter the URL that should receive webhooks.")
    try:
        _target(url)
    except FetchError as exc:
        raise WebhookUrlError(f"Webhooks cannot be sent there: {exc.message}", exc.code) from None
    return url


def endpoint_create(
    *, workspace: Workspace, url: str, description: str = "", created_by: User | None = None
) -> WebhookEndpoint:
    """Register ``url`` for the workspace's webhooks; its signing secret is generated."""
    url = url_check(url)
    return WebhookEndpoint.objects.create(
        workspace=workspace, url=url, description=description[:200], created_by=created_by
    )


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    from cutout.models import _webhook_secret

    endpoint.secret = _webhook_secret()
    endpoint.save(update_fields=["secret"])
    return endpoint


def deliveries_for(workspace: Workspace, *, limit: int = 50) -> list[WebhookDelivery]:
    """The workspace's delivery log, newest first."""
    return list(
        WebhookDelivery.objects.filter(workspace=workspace)
        .select_related("endpoint")
        .order_by("-created_at")[:limit]
    )


# ---------------------------------------------------------------------------------------------
# Signing


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


# ---------------------------------------------------------------------------------------------
# Events


def job_payload(job: Job, progress: JobProgress | None = None) -> dict[str, Any]:
    from cutout.jobs import job_progress

    progress = progress or job_progress(job)
    data: dict[str, Any] = {
        "id": str(job.id),
        "status": job.status,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        **progress.as_dict(),
        "results_zip_url": (
            storage.signed_url(job.result_zip, filename=f"cutout-job-{job.id}.zip")
            if job.result_zip
            else None
        ),
    }
    if progress.total <= MAX_ITEMS_IN_PAYLOAD:
        items = JobItem.objects.filter(job=job).select_related("cutout").order_by("position")
        data["items"] = [
            {
                "id": str(item.id),
                "name": item.name,
                "status": item.status,
                "error_code": item.error_code or None,
                "cutout_id": str(item.cutout_id) if item.cutout_id else None,
                "result_url": (
                    storage.signed_url(item.cutout.result)
                    if item.cutout is not None and item.cutout.result
                    else None
                ),
            }
            for item in items
        ]
    return data


def job_completed(*, job: Job, progress: JobProgress | None = None) -> list[WebhookDelivery]:
    """Log a ``job.completed`` delivery per active endpoint; they are sent after commit."""
    endpoints = list(WebhookEndpoint.objects.filter(workspace_id=job.workspace_id, is_active=True))
    if not endpoints:
        return []
    payload_data = {"job": job_payload(job, progress)}
    return [
        _delivery_create(
            endpoint=endpoint,
            event=EVENT_JOB_COMPLETED,
            data=payload_data,
            job=job,
            dedup_key=f"{EVENT_JOB_COMPLETED}:{job.id}",
        )
        for endpoint in endpoints
    ]


def ping(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a test event to ``endpoint`` (from the webhooks page)."""
    import uuid

    return _delivery_create(
        endpoint=endpoint,
        event=EVENT_PING,
        data={"message": "Webhooks from Cutout reach this endpoint."},
        job=None,
        dedup_key=f"{EVENT_PING}:{uuid.uuid4()}",
    )


def _delivery_create(
    *,
    endpoint: WebhookEndpoint,
    event: str,
    data: dict[str, Any],
    job: Job | None,
    dedup_key: str,
) -> WebhookDelivery:
    with transaction.atomic():
        delivery, created = WebhookDelivery.objects.get_or_create(
            endpoint=endpoint,
            dedup_key=dedup_key,
            defaults={
                "workspace_id": endpoint.workspace_id,
                "event": event,
                "job": job,
                "next_attempt_at": timezone.now(),
            },
        )
        if created:
            delivery.payload = {
                "id": str(delivery.id),
                "type": event,
                "created": int(delivery.created_at.timestamp()),
                "data": data,
            }
            delivery.save(update_fields=["payload"])
            delivery_id = delivery.id
            transaction.on_commit(lambda: _enqueue(delivery_id, 1))
    return delivery


def _enqueue(delivery_id: Any, attempt: int) -> None:
    from cutout import tasks

    tasks.deliver_webhook.delay(str(delivery_id), attempt)


# ---------------------------------------------------------------------------------------------
# Sending


def retry_delay(attempts: int) -> int:
    """Seconds to wait after ``attempts`` failed attempts (with jitter so retries spread out)."""
    base = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
    return int(base * random.uniform(0.9, 1.1))


def delivery_attempt(
    *, delivery_id: Any, attempt: int | None = None, transport: httpx.BaseTransport | None = None
) -> WebhookDelivery | None:
    """Make attempt number ``attempt`` (default: the next one) to send a delivery.

    Idempotent: a delivery already sent, given up, or past that attempt is left alone, and a
    delivery being sent by another process right now is skipped. Returns the delivery.
    """
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .filter(id=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
            return delivery
        if attempt is not None and delivery.attempts != attempt - 1:
            return delivery  # a stale copy of the task: that attempt already happened
        _send(delivery, transport=transport)
        delivery.save()
    return delivery


def _send(delivery: WebhookDelivery, *, transport: httpx.BaseTransport | None) -> None:
    endpoint = delivery.endpoint
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    started = time.perf_counter()
    status: int | None = None
    excerpt = ""
    error = ""
    if not endpoint.is_active:
        error = "The endpoint was disabled."
    else:
        try:
            status, excerpt = _post(endpoint.url, endpoint.secret, delivery, body, transport)
        except WebhookUrlError as exc:
            error = exc.message
        except httpx.TimeoutException:
            error = f"No answer within {TIMEOUT_S:.0f} seconds."
        except httpx.HTTPError as exc:
            error = f"Could not connect ({type(exc).__name__})."
    delivery.duration_ms = round((time.perf_counter() - started) * 1000)
    delivery.response_status = status
    delivery.response_excerpt = excerpt
    if status is not None and 200 <= status < 300:
        delivery.status = WebhookDelivery.Status.SUCCEEDED
        delivery.delivered_at = timezone.now()
        delivery.error = ""
        delivery.next_attempt_at = None
        return
    delivery.error = error or f"The endpoint answered HTTP {status}."
    if delivery.attempts >= MAX_ATTEMPTS or not endpoint.is_active:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.next_attempt_at = None
        logger.info("webhook delivery %s failed for good: %s", delivery.id, delivery.error)
    else:
        delivery.next_attempt_at = now + timedelta(seconds=retry_delay(delivery.attempts))


def _post(
    url: str,
    secret: str,
    delivery: WebhookDelivery,
    body: bytes,
    transport: httpx.BaseTransport | None,
) -> tuple[int, str]:
    from cutout.files.remote import UrlFetchError as FetchError
    from cutout.files.remote import check_url as _target

    try:
        target = _target(url)  # resolves and refuses private addresses, every attempt
    except FetchError as exc:
        raise WebhookUrlError(f"The URL is not allowed: {exc.message}", exc.code) from None
    headers = {
        "Host": target.host_header,
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json",
        "Cutout-Event": delivery.event,
        "Cutout-Delivery": str(delivery.id),
        SIGNATURE_HEADER: sign(secret, body),
    }
    extensions: dict[str, Any] = {}
    if target.scheme == "https":
        extensions["sni_hostname"] = target.host
    timeout = httpx.Timeout(TIMEOUT_S, connect=5.0)
    with httpx.Client(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    ) as client:
        request = client.build_request(
            "POST", target.pinned_url, headers=headers, content=body, extensions=extensions
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


def deliveries_due(*, now: Any = None, limit: int = 500) -> int:
    """Queue the pending deliveries whose next attempt is due; returns how many (beat task).

    Each queued delivery's next attempt moves :data:`REQUEUE_AFTER` ahead, so a delivery waiting
    in a busy queue is not queued again every minute; the attempt itself sets the real next time.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("id", "attempts")[:limit]
        )
        WebhookDelivery.objects.filter(id__in=[delivery_id for delivery_id, _ in due]).update(
            next_attempt_at=now + REQUEUE_AFTER
        )
        for delivery_id, attempts in due:
            transaction.on_commit(functools.partial(_enqueue, delivery_id, attempts + 1))
    return len(due)
