"""Completion webhooks: tell a workspace's own server when its jobs finish.

This module records endpoints and events; :mod:`cutout.webhooks.delivery` sends them.

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
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Workspace
from cutout import queue
from cutout.errors import CutoutError
from cutout.files import storage
from cutout.files.remote import UrlFetchError, check_url
from cutout.jobs.selectors import JobProgress, job_items, job_progress
from cutout.models import Job, WebhookDelivery, WebhookEndpoint

if TYPE_CHECKING:
    from accounts.models import User


EVENT_JOB_COMPLETED = "job.completed"
EVENT_PING = "ping"
MAX_ITEMS_IN_PAYLOAD = 100
REQUEUE_AFTER = timedelta(minutes=5)


class WebhookUrlError(CutoutError):
    """Webhooks may not be sent to this URL (``code`` says why: ``invalid_url``, ``blocked_address``...)."""

    code = "webhook_url_refused"
    field = "url"

    def __init__(self, message: str, code: str = "invalid_url") -> None:
        super().__init__(message, code=code)


# ---------------------------------------------------------------------------------------------
# Endpoints


def url_check(url: str) -> str:
    """The URL, cleaned, if webhooks may be sent to it now; :class:`WebhookUrlError` if not."""
    url = (url or "").strip()
    if not url:
        raise WebhookUrlError("Enter the URL that should receive webhooks.")
    try:
        check_url(url)
    except UrlFetchError as exc:
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


# Refusals of the URL itself (not of the network): retrying cannot help, so the endpoint stops.
URL_REFUSALS = ("blocked_address", "invalid_url")


def endpoint_disable(*, endpoint_id: Any, reason: str) -> None:
    """Stop deliveries to an endpoint, saying why (the webhooks page shows it)."""
    WebhookEndpoint.objects.filter(id=endpoint_id, is_active=True).update(
        is_active=False, disabled_reason=reason[:300], disabled_at=timezone.now()
    )


def endpoint_enable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Deliver to a disabled endpoint again, once its URL is allowed (:class:`WebhookUrlError`)."""
    url_check(endpoint.url)
    endpoint.is_active = True
    endpoint.disabled_reason = ""
    endpoint.disabled_at = None
    endpoint.save(update_fields=["is_active", "disabled_reason", "disabled_at"])
    return endpoint


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    # A new secret made the way a new endpoint's is (the field's default).
    endpoint.secret = WebhookEndpoint._meta.get_field("secret").get_default()
    endpoint.save(update_fields=["secret"])
    return endpoint


# ---------------------------------------------------------------------------------------------
# Events


def job_payload(job: Job, progress: JobProgress | None = None) -> dict[str, Any]:
    """The ``job`` of a ``job.completed`` event: status, counts, and signed result URLs."""
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
        items = job_items(job)
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
            transaction.on_commit(lambda: queue.webhook_delivery_enqueue(delivery_id, 1))
    return delivery


# ---------------------------------------------------------------------------------------------
# Retries


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
            transaction.on_commit(
                functools.partial(queue.webhook_delivery_enqueue, delivery_id, attempts + 1)
            )
    return len(due)


def delivery_retry(*, delivery_id: Any) -> bool:
    """One more attempt at a delivery that failed for good (an operator's retry, e.g. once the
    receiver is fixed), queued after the commit; if it fails again it stays failed. False, and
    nothing changed, for a delivery that is delivered, still pending, or whose endpoint is off."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(id=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != WebhookDelivery.Status.FAILED:
            return False
        if not delivery.endpoint.is_active:
            return False
        delivery.status = WebhookDelivery.Status.PENDING
        delivery.next_attempt_at = timezone.now() + REQUEUE_AFTER
        delivery.save(update_fields=["status", "next_attempt_at"])
        attempt = delivery.attempts + 1
        transaction.on_commit(lambda: queue.webhook_delivery_enqueue(delivery_id, attempt))
    return True
