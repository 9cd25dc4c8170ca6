"""Queueing again what a lost task left waiting (run by Celery beat)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from cutout import queue
from cutout.jobs.selectors import UNFINISHED
from cutout.jobs.services import job_resume
from cutout.models import Job, JobItem

logger = logging.getLogger(__name__)


def jobs_requeue_stale(*, older_than: timedelta | None = None) -> int:
    """Queue again the items whose task seems lost; returns how many were queued.

    A broker without redelivery (kombu's filesystem transport) or a crash between commit and
    publish can lose a task; this periodic sweep finds such items: running ones whose attempt
    started longer ago than any attempt may last, and, when the broker's queue is empty (so they
    are not simply waiting their turn), queued ones older than that. Duplicates are harmless: an
    item is processed once whatever the number of tasks that ask for it.
    """
    cutoff = timezone.now() - (older_than or _stale_after())
    stale = Q(status=JobItem.Status.RUNNING, started_at__lt=cutoff)
    if queue.queue_is_empty():
        stale |= Q(status=JobItem.Status.QUEUED, job__created_at__lt=cutoff)
    ids = list(JobItem.objects.filter(stale).values_list("id", flat=True)[:1000])
    for item_id in ids:
        queue.job_item_enqueue(item_id)
    # Jobs whose items all finished but whose closing task was lost.
    unclosed = (
        Job.objects.filter(
            status__in=(Job.Status.QUEUED, Job.Status.RUNNING), created_at__lt=cutoff
        )
        .exclude(items__status__in=UNFINISHED)
        .values_list("id", flat=True)[:1000]
    )
    for job_id in unclosed:
        queue.job_finish_enqueue(job_id)
    if ids:
        logger.info("queued %d stale job items again", len(ids))
    return len(ids)


def jobs_resume_waiting(*, limit: int = 200) -> int:
    """Resume the jobs whose items wait for credits, where their workspace has credits again
    (after a purchase or a grant); oldest jobs first. Returns how many items were queued."""
    job_ids = list(
        Job.objects.filter(items__status=JobItem.Status.WAITING)
        .distinct()
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )
    queued = 0
    for job_id in job_ids:
        queued += job_resume(job_id=job_id)
    if queued:
        logger.info("resumed %d job items that were waiting for credits", queued)
    return queued


def _stale_after() -> timedelta:
    limit = int(getattr(settings, "CELERY_TASK_TIME_LIMIT", 300))
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    visibility = int(options.get("visibility_timeout", 900))
    return timedelta(seconds=max(limit * 3, visibility + 300))
