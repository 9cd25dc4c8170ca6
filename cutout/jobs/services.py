"""Accepting a batch, queueing its items and closing the job when they have all finished.

The web page and ``POST /api/v1/cutouts?async=true`` call :func:`job_create`; workers process the
items (:mod:`cutout.jobs.processing`) and the last one queues :func:`job_finish`.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiKey, Workspace
from billing.errors import InsufficientCredits
from billing.selectors import balance_for
from cutout import queue
from cutout.cutouts.engine_settings import default_pipeline
from cutout.cutouts.services import credits_for
from cutout.engine import InvalidOption, Options, options_as_dict, options_from_dict
from cutout.files import storage
from cutout.jobs.intake import BatchFile, batch_read
from cutout.jobs.results import job_results_zip_write
from cutout.jobs.selectors import UNFINISHED, job_progress
from cutout.models import Job, JobItem, Source
from cutout.webhooks import services as webhooks

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)


def job_options(options: Options | dict[str, Any] | None) -> Options:
    """Engine options from what a caller gave (none: the default pipeline's defaults)."""
    if options is None:
        return Options(pipeline=default_pipeline())
    if isinstance(options, Options):
        return options
    return options_from_dict(options)


def job_create(
    *,
    workspace: Workspace,
    files: Iterable[Any] | None = None,
    zip_file: bytes | IO[bytes] | None = None,
    options: Options | dict[str, Any] | None = None,
    user: User | None = None,
    api_key: ApiKey | None = None,
    source: str = Source.BATCH,
    idempotency_key: str | None = None,
) -> Job:
    """Accept a batch (``files``: uploaded files or ``(name, bytes)`` pairs, or one ``zip_file``).

    Checks everything that can be checked up front, so a refused batch costs nothing and stores
    nothing: options (:class:`~cutout.engine.errors.InvalidOption`), the batch bounds and ZIP
    safety (:class:`~cutout.jobs.intake.JobInputError`), and that the workspace has a credit
    available for every file (:class:`~billing.errors.InsufficientCredits`). Then stores the
    inputs, creates the job and its items, and queues one task per item once the transaction
    commits. A file too large on its own becomes an item that has already failed
    (``image_too_large``); the rest go ahead.

    With ``idempotency_key``, asking again returns the job the first call made.
    """
    if idempotency_key:
        found = Job.objects.filter(workspace=workspace, idempotency_key=idempotency_key).first()
        if found is not None:
            return found
    opts = job_options(options)
    if opts.bg_image is not None:
        raise InvalidOption(
            "A batch cannot take a background picture; use bg_color or bg_blur", field="bg_image"
        )
    batch = batch_read(files=files, zip_file=zip_file)
    payable = credits_for(opts) * sum(1 for entry in batch if not entry.too_large)
    _check_credits(workspace, payable)

    job = Job(
        workspace=workspace,
        created_by=user,
        api_key=api_key,
        source=source,
        options=options_as_dict(opts),
        idempotency_key=idempotency_key or None,
    )
    items = [
        JobItem(job=job, position=position, name=entry.name[:255])
        for position, entry in enumerate(batch)
    ]
    _store_inputs(items, batch)
    try:
        _save(job, items, batch)
    except IntegrityError:
        for item in items:
            storage.storage_delete(item.input.name)
        if idempotency_key:
            found = Job.objects.filter(workspace=workspace, idempotency_key=idempotency_key).first()
            if found is not None:
                return found
        raise
    logger.info("job %s created: %d items (%d payable)", job.id, len(items), payable)
    return job


def _save(job: Job, items: list[JobItem], batch: Sequence[BatchFile]) -> None:
    """The job and its items in one transaction; their tasks are queued once it commits."""
    with transaction.atomic():
        job.save()
        for item, entry in zip(items, batch, strict=True):
            if entry.too_large:
                item.status = JobItem.Status.FAILED
                item.error_code = "image_too_large"
                item.error_message = (
                    f"The file is larger than {settings.CUTOUT_MAX_UPLOAD_BYTES} bytes."
                )
                item.finished_at = timezone.now()
        JobItem.objects.bulk_create(items)
        job_id = job.id
        transaction.on_commit(lambda: _enqueue_after_commit(job_id))


def _check_credits(workspace: Workspace, needed: int) -> None:
    if needed <= 0:
        return
    available = balance_for(workspace).available
    if available < needed:
        raise InsufficientCredits(needed=needed, available=available)


def _store_inputs(items: Sequence[JobItem], batch: Sequence[BatchFile]) -> None:
    """Write each input to storage (a few at a time: S3 round trips dominate otherwise)."""

    def save(pair: tuple[JobItem, BatchFile]) -> None:
        item, entry = pair
        if not entry.too_large:
            item.input.save(posixpath.basename(entry.name), ContentFile(entry.data), save=False)

    pairs = [(item, entry) for item, entry in zip(items, batch, strict=True) if not entry.too_large]
    try:
        if len(pairs) > 4:
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(save, pairs))
        else:
            for pair in pairs:
                save(pair)
    except Exception:
        for item in items:
            storage.storage_delete_quietly(item.input.name)
        raise


def _enqueue_after_commit(job_id: Any) -> None:
    """Queue the job's items; a broker outage must not turn the accepted job into an error."""
    try:
        job_enqueue(job_id=job_id)
    except Exception:
        if queue.is_eager():
            raise
        # The job is saved; the stale-item sweep (beat) queues its items once the broker is back.
        logger.exception("could not queue the items of job %s now", job_id)


def job_enqueue(*, job_id: Any, only: Iterable[Any] | None = None) -> int:
    """Queue a task for each item still waiting (or those in ``only``); returns how many."""
    items = JobItem.objects.filter(job_id=job_id, status=JobItem.Status.QUEUED)
    if only is not None:
        items = items.filter(id__in=list(only))
    ids = list(items.order_by("position").values_list("id", flat=True))
    for item_id in ids:
        queue.job_item_enqueue(item_id)
    if not ids and not JobItem.objects.filter(job_id=job_id, status__in=UNFINISHED).exists():
        queue.job_finish_enqueue(job_id)
    return len(ids)


def job_finish(*, job_id: Any) -> Job | None:
    """Close a job whose items are all finished: results ZIP, status, webhooks. Idempotent."""
    with transaction.atomic():
        job = (
            Job.objects.select_for_update(of=("self",))
            .select_related("workspace")
            .filter(id=job_id)
            .first()
        )
        if job is None or job.status in (Job.Status.DONE, Job.Status.FAILED):
            return job
        progress = job_progress(job)
        if not progress.finished:
            return job
        if progress.done:
            job_results_zip_write(job=job)
        job.status = Job.Status.DONE if progress.done else Job.Status.FAILED
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at", "result_zip"])
        webhooks.job_completed(job=job, progress=progress)
    logger.info("job %s finished: %d done, %d failed", job.id, progress.done, progress.failed)
    return job
