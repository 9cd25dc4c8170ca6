"""Celery tasks. Each is thin: it calls a service and decides about retrying.

Every task here may run more than once for the same work (late acknowledgement redelivers the task
of a worker that died; retries re-run it), so every service it calls is idempotent. Tasks are queued only
through :mod:`cutout.queue` (from ``transaction.on_commit``, so a worker never looks for rows that
are not committed yet). Their names (``cutout.tasks.<function>``) are in queued messages and the
beat schedule: keep them if a task moves.
"""

from __future__ import annotations

import logging
import random
import smtplib
from typing import Any

from celery import shared_task
from django.conf import settings

from billing.services import reservations_expire as billing_reservations_expire
from cutout import mail, metrics, queue
from cutout.cutouts import sweeps as cutout_sweeps
from cutout.files import retention
from cutout.jobs import processing, sweeps
from cutout.jobs import services as jobs
from cutout.webhooks import delivery as webhook_delivery
from cutout.webhooks import services as webhooks

logger = logging.getLogger(__name__)

DEFAULT_ITEM_RETRIES = 3
DEFAULT_RETRY_BACKOFF_S = 10
MAX_RETRY_BACKOFF_S = 600  # keep retries well below the broker's visibility timeout


def _item_retries() -> int:
    return int(getattr(settings, "CUTOUT_ITEM_MAX_RETRIES", DEFAULT_ITEM_RETRIES))


def retry_countdown(retries: int) -> int:
    """Exponential backoff with jitter: base, 2x base, 4x base... (capped)."""
    base = float(getattr(settings, "CUTOUT_ITEM_RETRY_BACKOFF", DEFAULT_RETRY_BACKOFF_S))
    delay = min(base * (2**retries), MAX_RETRY_BACKOFF_S)
    return max(1, round(delay * random.uniform(0.8, 1.2)))


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def process_job_item(self: Any, item_id: str) -> dict[str, Any]:
    """Process one batch item (exactly once; see :mod:`cutout.jobs.processing`).

    Transient failures (storage, network, database connection) are retried with exponential
    backoff up to ``CUTOUT_ITEM_MAX_RETRIES`` times; the last attempt fails the item cleanly and
    releases its credit. Bad images are never retried.
    """
    final = self.request.retries >= _item_retries()
    try:
        outcome = processing.job_item_process(item_id=item_id, final_attempt=final)
    except processing.TransientError as exc:
        countdown = retry_countdown(self.request.retries)
        logger.warning("item %s: transient failure, retrying in %ss: %s", item_id, countdown, exc)
        raise self.retry(exc=exc, countdown=countdown) from None
    except Exception:
        # A bug or an outage the service did not expect: fail the item (releasing any credit)
        # rather than leave it running; if even that fails, the stale-item sweep retries later.
        logger.exception("item %s: unexpected failure", item_id)
        outcome = processing.job_item_fail(
            item_id=item_id,
            error_code="internal_error",
            error_message="Processing failed unexpectedly; it was not charged.",
        )
    if outcome.job_finished and outcome.job_id is not None:
        queue.job_finish_enqueue(outcome.job_id)
    return {"item": str(item_id), "status": outcome.status, "action": outcome.action}


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=8,
    soft_time_limit=800,
    time_limit=860,
)
def finish_job(self: Any, job_id: str) -> str | None:
    """Close a finished job: results ZIP, final status, completion webhooks. Idempotent."""
    try:
        job = jobs.job_finish(job_id=job_id)
    except Exception as exc:
        if processing.is_transient(exc):
            raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from None
        raise
    return job.status if job is not None else None


@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=60, time_limit=90)
def deliver_webhook(delivery_id: str, attempt: int | None = None) -> str | None:
    """Make one attempt to deliver a webhook. Later attempts are queued by :func:`webhooks_due`."""
    delivery = webhook_delivery.delivery_attempt(delivery_id=delivery_id, attempt=attempt)
    return delivery.status if delivery is not None else None


@shared_task(acks_late=True)
def webhooks_due() -> int:
    """Beat: queue the webhook deliveries whose next attempt is due."""
    return webhooks.deliveries_due()


@shared_task(acks_late=True, soft_time_limit=3300, time_limit=3500)
def retention_sweep() -> dict[str, Any]:
    """Beat: enforce per-workspace retention, delete stray originals and orphaned objects."""
    return retention.retention_sweep().as_dict()


@shared_task(acks_late=True)
def reservations_expire() -> int:
    """Beat: release credit reservations whose work never finished."""
    return billing_reservations_expire()


@shared_task(acks_late=True)
def jobs_requeue_stale() -> int:
    """Beat: queue again items whose task was lost (crash between commit and publish, etc.)."""
    return sweeps.jobs_requeue_stale()


@shared_task(acks_late=True)
def cutouts_fail_stuck() -> int:
    """Beat: fail cutouts left ``processing`` past any deadline, releasing their credits."""
    return cutout_sweeps.cutouts_fail_stuck()


@shared_task(acks_late=True)
def jobs_resume_waiting() -> int:
    """Beat: queue the batch items that wait for credits where credits are available again."""
    return sweeps.jobs_resume_waiting()


@shared_task(bind=True, acks_late=True, max_retries=6, soft_time_limit=120, time_limit=150)
def send_email(self: Any, message: dict[str, Any]) -> int:
    """Deliver one queued mail (:mod:`cutout.mail`); a mail server that fails is retried with
    backoff. The last failure is a WARNING, not an ERROR: ERROR lines are mailed to ADMINS."""
    try:
        sent = mail.email_deliver(message=message)
    except (smtplib.SMTPException, OSError) as exc:
        if self.request.retries >= self.max_retries:
            metrics.EMAILS.labels(outcome="failed").inc()
            logger.warning(
                "mail to %d recipient(s) not sent: %s", len(message.get("to") or []), exc
            )
            return 0
        metrics.EMAILS.labels(outcome="retrying").inc()
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from None
    metrics.EMAILS.labels(outcome="sent").inc()
    return sent
