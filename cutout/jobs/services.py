"""Accepting a batch, queueing its items and closing the job when they have all finished.

The web page and ``POST /api/v1/cutouts?async=true`` call :func:`job_create`; workers process the
items (:mod:`cutout.jobs.processing`) and the last one queues :func:`job_finish`.
"""

from __future__ import annotations

import logging
import posixpath
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiKey, Workspace
from billing.errors import InsufficientCredits
from billing.selectors import balance_for
from cutout import queue
from cutout.cutouts.engine_settings import default_pipeline
from cutout.cutouts.records import credits_for
from cutout.engine import InvalidOption, Options, options_as_dict, options_from_dict
from cutout.files import storage
from cutout.jobs.intake import BatchEntry, ByteBudget, batch_open, entry_spool, max_total_bytes
from cutout.jobs.results import job_results_zip_write
from cutout.jobs.selectors import RERUN_BASE, UNFINISHED, items_in_line, job_progress
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
    partial: bool = False,
) -> Job:
    """Accept a batch (``files``: uploaded files or ``(name, bytes)`` pairs, or one ``zip_file``).

    Checks everything that can be checked up front, so a refused batch costs nothing and stores
    nothing: options (:class:`~cutout.engine.errors.InvalidOption`), the batch bounds and ZIP
    safety (:class:`~cutout.jobs.intake.JobInputError`), and that the workspace has a credit
    available for every file (:class:`~billing.errors.InsufficientCredits`). Then stores the
    inputs, creates the job and its items, and queues one task per item once the transaction
    commits. A file too large on its own becomes an item that has already failed
    (``image_too_large``); the rest go ahead.

    With ``partial``, a batch bigger than the credits available is accepted all the same: the
    first items that the credits cover are queued and the rest wait for credits
    (``JobItem.Status.WAITING``, resumed by :func:`job_resume`); it is refused only when not one
    credit is available.

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
    with batch_open(files=files, zip_file=zip_file) as batch:
        # Before a single entry is inflated or stored: the credits the batch needs.
        # A batch of free results (previews) needs no credit: every item is covered.
        covered = (
            _check_credits(workspace, batch.payable, partial=partial)
            if credits_for(opts)
            else batch.payable
        )
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
            for position, entry in enumerate(batch.entries)
        ]
        too_large = _store_inputs(items, batch.entries)
    try:
        _save(job, items, too_large, covered=covered)
    except IntegrityError:
        for item in items:
            storage.storage_delete_quietly(item.input.name)
        if idempotency_key:
            found = Job.objects.filter(workspace=workspace, idempotency_key=idempotency_key).first()
            if found is not None:
                return found
        raise
    logger.info(
        "job %s created: %d items (%d payable)", job.id, len(items), len(items) - len(too_large)
    )
    return job


def _save(job: Job, items: list[JobItem], too_large: set[int], *, covered: int) -> None:
    """The job and its items in one transaction; their tasks are queued once it commits.

    Payable items past the first ``covered`` wait for credits."""
    with transaction.atomic():
        job.save()
        for item in items:
            if item.position in too_large:
                item.status = JobItem.Status.FAILED
                item.error_code = "image_too_large"
                item.error_message = (
                    f"The file is larger than {settings.CUTOUT_MAX_UPLOAD_BYTES} bytes."
                )
                item.finished_at = timezone.now()
            else:
                if covered <= 0:
                    item.status = JobItem.Status.WAITING
                covered -= 1
        JobItem.objects.bulk_create(items)
        job_id = job.id
        transaction.on_commit(lambda: _enqueue_after_commit(job_id))


def _check_credits(workspace: Workspace, needed: int, *, partial: bool) -> int:
    """How many of ``needed`` items the credits available cover (all, or refuse, without
    ``partial``; with it, refuse only when none is covered)."""
    if needed <= 0:
        return 0
    available = balance_for(workspace).available
    if available < needed and (not partial or available < 1):
        raise InsufficientCredits(needed=needed, available=available)
    return min(needed, available)


STORE_THREADS = 4  # uploads in flight at once (S3 round trips dominate otherwise)


def _store_inputs(items: Sequence[JobItem], entries: Sequence[BatchEntry]) -> set[int]:
    """Copy each entry, one at a time, into storage; returns the positions found too large.

    Entries are unpacked in order, each into a spooled copy bounded by the upload limit and the
    batch's byte budget (:func:`~cutout.jobs.intake.entry_spool`); at most :data:`STORE_THREADS`
    copies are being uploaded at once, so memory stays a few megabytes whatever the batch holds.
    On any failure everything stored so far is deleted and the error goes up.
    """
    budget = ByteBudget(max_total_bytes())
    too_large = {
        item.position for item, entry in zip(items, entries, strict=True) if entry.too_large
    }
    slots = threading.BoundedSemaphore(STORE_THREADS)

    def save(item: JobItem, entry: BatchEntry, copy: IO[bytes]) -> None:
        try:
            with copy:
                item.input.save(posixpath.basename(entry.name), File(copy), save=False)
        finally:
            slots.release()

    pending: list[Future[None]] = []
    error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=STORE_THREADS) as pool:
        try:
            for item, entry in zip(items, entries, strict=True):
                if item.position in too_large:
                    continue
                copy = entry_spool(entry, budget)
                if copy is None:
                    too_large.add(item.position)
                    continue
                slots.acquire()
                pending.append(pool.submit(save, item, entry, copy))
        except BaseException as exc:
            error = exc
        for future in pending:  # every upload ends before anything is cleaned up
            try:
                future.result()
            except BaseException as exc:
                error = error or exc
    if error is not None:
        for item in items:
            storage.storage_delete_quietly(item.input.name)
        raise error
    return too_large


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


def job_resume(*, job_id: Any) -> int:
    """Queue again as many of the job's items waiting for credits as the credits available now
    cover (less what the workspace's queued items will need first); returns how many.

    Each item still reserves its own credit when it runs, so a credit spent meanwhile elsewhere
    only sends that item back to waiting; nothing is ever charged twice or without a credit.
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().select_related("workspace").filter(id=job_id).first()
        if job is None or job.status in (Job.Status.DONE, Job.Status.FAILED):
            return 0
        free = balance_for(job.workspace).available - items_in_line(job.workspace)
        if free <= 0:
            return 0
        ids = list(
            JobItem.objects.filter(job=job, status=JobItem.Status.WAITING)
            .order_by("position")
            .values_list("id", flat=True)[:free]
        )
        if not ids:
            return 0
        JobItem.objects.filter(id__in=ids, status=JobItem.Status.WAITING).update(
            status=JobItem.Status.QUEUED, error_code="", error_message="", finished_at=None
        )
        job.status = Job.Status.RUNNING
        job.save(update_fields=["status"])
        transaction.on_commit(lambda: _enqueue_after_commit(job.id))
    logger.info("job %s resumed: %d items queued again", job.id, len(ids))
    return len(ids)


def job_finish(*, job_id: Any) -> Job | None:
    """Close a job whose items are all finished: results ZIP, status, webhooks. Idempotent.

    A job with items waiting for credits is not closed: it becomes ``waiting``, with a ZIP of
    what is done so far, and closes once :func:`job_resume` has run the rest."""
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
        if progress.waiting:
            if progress.done:
                job_results_zip_write(job=job)
            job.status = Job.Status.WAITING
            job.save(update_fields=["status", "result_zip"])
            return job
        if progress.done:
            job_results_zip_write(job=job)
        job.status = Job.Status.DONE if progress.done else Job.Status.FAILED
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at", "result_zip"])
        webhooks.job_completed(job=job, progress=progress)
    logger.info("job %s finished: %d done, %d failed", job.id, progress.done, progress.failed)
    return job


def job_item_rerun(*, item_id: Any) -> bool:
    """Run a failed item again (an operator's retry, e.g. after an outage): back to queued, its
    job open again, one task queued after the commit. It gets ``CUTOUT_ITEM_MAX_ATTEMPTS`` fresh
    attempts and is charged only if it succeeds. False, and nothing changed, when the item has
    not failed or its upload is no longer stored (originals not kept)."""
    with transaction.atomic():
        item = (
            JobItem.objects.select_for_update(of=("self",))
            .select_related("job")
            .filter(id=item_id)
            .first()
        )
        if item is None or item.status != JobItem.Status.FAILED or not item.input:
            return False
        item.status = JobItem.Status.QUEUED
        item.error_code = ""
        item.error_message = ""
        item.finished_at = None
        item.timings = {**(item.timings or {}), RERUN_BASE: item.attempts}
        item.save(update_fields=["status", "error_code", "error_message", "finished_at", "timings"])
        Job.objects.filter(id=item.job_id).update(status=Job.Status.RUNNING, finished_at=None)
        transaction.on_commit(lambda: queue.job_item_enqueue(item_id))
    logger.info("job item %s queued again by an operator", item_id)
    return True
