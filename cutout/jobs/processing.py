"""Processing one batch item on a worker, exactly once, whatever the broker does.

Tasks are acknowledged late, so a worker that dies mid-item has its message delivered again, and a
task may also be retried after a transient error. Processing an item is therefore idempotent:

- while an item is processed its worker holds a lock on it (a PostgreSQL advisory lock tied to the
  database session, so it vanishes with a killed worker); a second delivery that finds it held
  leaves the item to the holder;
- the item row is claimed and finished under ``select_for_update``; a finished item is never
  processed again;
- each attempt reserves its credit under the idempotency key ``item:<id>:<attempt>`` (through
  ``cutout_create``). Before a new attempt, what an interrupted one left behind is settled: a
  cutout that did succeed (and was captured) is adopted instead of being made again; a reservation
  still held is released; a half-made cutout is marked failed.

So a redelivered or retried item is charged at most once and gets one result.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from billing.errors import InsufficientCredits
from billing.services import credits_release_held
from cutout.cutouts.services import cutout_create, cutout_fail
from cutout.engine import options_from_dict
from cutout.errors import CutoutError
from cutout.files import storage
from cutout.jobs.selectors import RERUN_BASE, UNFINISHED
from cutout.models import Cutout, Job, JobItem, Source

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 5  # deliveries of one item (kills, timeouts, retries) before giving up


def max_attempts() -> int:
    return int(getattr(settings, "CUTOUT_ITEM_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))


class TransientError(CutoutError):
    """A failure worth retrying (storage or network hiccup); the attempt left nothing behind."""

    code = "storage_error"


@dataclass(frozen=True)
class ItemOutcome:
    item_id: Any
    job_id: Any
    status: str  # the item's status afterwards
    action: str  # processed | adopted | waiting (no credit) | skipped (finished) | busy (held)
    job_finished: bool = False


def _lock_key(item_id: Any) -> int:
    raw = uuid.UUID(str(item_id)).bytes[:8]
    return int.from_bytes(raw, "big", signed=True)


@contextlib.contextmanager
def item_lock(item_id: Any) -> Iterator[bool]:
    """Hold the item's processing lock; yields False when another process holds it.

    PostgreSQL: a session advisory lock, released when the block ends or the session dies (a killed
    worker's connection closes, so its lock goes with it). Other databases serialise writers
    anyway (SQLite) and get no extra lock.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    key = _lock_key(item_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        row = cursor.fetchone()
    acquired = bool(row and row[0])
    try:
        yield acquired
    finally:
        if acquired:
            with contextlib.suppress(Exception), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def is_transient(exc: BaseException) -> bool:
    """Storage, network and database-connection failures: worth another try later."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TransientError):
            return True
        if isinstance(getattr(current, "code", None), str):
            return False  # a classified error (bad image, no credit...) says what it is
        if _is_transient_one(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_transient_one(exc: BaseException) -> bool:
    if isinstance(exc, SoftTimeLimitExceeded):
        return False
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        code = str(error.get("Code", ""))
        return (
            status >= 500
            or status in (408, 429)
            or code
            in {
                "SlowDown",
                "Throttling",
                "RequestTimeout",
                "ServiceUnavailable",
                "InternalError",
            }
        )
    if isinstance(exc, BotoCoreError):
        return True
    if isinstance(exc, OperationalError):
        return True
    # OSError covers local disks (full, unmounted, permissions), sockets and timeouts.
    return isinstance(exc, OSError)


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, SoftTimeLimitExceeded):
        return "timeout"
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        return code[:40]
    return "storage_error" if is_transient(exc) else "processing_failed"


def _error_message(exc: BaseException) -> str:
    if isinstance(exc, SoftTimeLimitExceeded):
        return "Processing took longer than the time limit for one image; it was not charged."
    if is_transient(exc):
        return "The result could not be stored; it was not charged. Try again later."
    message = getattr(exc, "message", None)
    if getattr(exc, "code", None) and message:
        return str(message)[:1000]
    return "Processing failed unexpectedly; it was not charged."


def _claim(item_id: Any) -> JobItem | None:
    """Mark the item running for this attempt; None when it is already finished (or gone)."""
    with transaction.atomic():
        item = (
            JobItem.objects.select_for_update(of=("self",))
            .select_related("job", "job__workspace", "job__created_by", "job__api_key")
            .filter(id=item_id)
            .first()
        )
        if item is None or item.status not in UNFINISHED:
            return None
        item.status = JobItem.Status.RUNNING
        item.attempts += 1
        item.started_at = timezone.now()  # when the current attempt started
        item.save(update_fields=["status", "attempts", "started_at"])
        Job.objects.filter(id=item.job_id, status=Job.Status.QUEUED).update(
            status=Job.Status.RUNNING
        )
    return item


def _attempt_key(item: JobItem, attempt: int) -> str:
    return f"item:{item.id}:{attempt}"


def _settle_leftovers(item: JobItem) -> Cutout | None:
    """Tidy what interrupted attempts left; return a succeeded cutout to adopt, if any."""
    prefix = f"item:{item.id}:"
    leftovers = list(
        Cutout.objects.filter(
            workspace_id=item.job.workspace_id, idempotency_key__startswith=prefix
        ).order_by("created_at")
    )
    adopted = next((c for c in leftovers if c.status == Cutout.Status.SUCCEEDED), None)
    for cutout in leftovers:
        if cutout is adopted or cutout.status == Cutout.Status.FAILED:
            continue
        cutout_fail(
            cutout,
            code="interrupted",
            message="The worker processing this image stopped; it was processed again.",
        )
    if adopted is None:
        credits_release_held(job_item=item, reason="interrupted attempt")
    return adopted


def _read_input(item: JobItem) -> bytes:
    try:
        with default_storage.open(str(item.input.name), "rb") as handle:
            data: bytes = handle.read()
            return data
    except FileNotFoundError:
        raise
    except Exception as exc:
        if is_transient(exc):
            raise TransientError(f"could not read the input of item {item.id}: {exc}") from exc
        raise


def _finish_item(
    item_id: Any,
    *,
    status: str,
    cutout: Cutout | None = None,
    error_code: str = "",
    error_message: str = "",
    timings: dict[str, Any] | None = None,
) -> tuple[JobItem, bool]:
    """Record the item's outcome; returns it and whether it was the job's last unfinished one."""
    with transaction.atomic():
        job_id = JobItem.objects.values_list("job_id", flat=True).get(id=item_id)
        # The job row is the latch that serialises its items' endings, so exactly one of them
        # sees that it was the last (READ COMMITTED would otherwise let two miss each other).
        Job.objects.select_for_update().filter(id=job_id).values_list("id", flat=True).first()
        item = (
            JobItem.objects.select_for_update(of=("self",))
            .select_related("job__workspace")
            .get(id=item_id)
        )
        if item.status in UNFINISHED:
            item.status = status
            item.cutout = cutout
            item.error_code = error_code[:40]
            item.error_message = error_message
            item.finished_at = timezone.now()
            item.timings = {**(item.timings or {}), **(timings or {})}
            original = item.input.name
            done = status in (JobItem.Status.DONE, JobItem.Status.FAILED)
            if done and original and not item.job.workspace.keep_originals:
                item.input.name = ""
                transaction.on_commit(lambda: storage.storage_delete_quietly(original))
            item.save()
        last = not JobItem.objects.filter(job_id=item.job_id, status__in=UNFINISHED).exists()
    return item, last


def job_item_process(*, item_id: Any, final_attempt: bool = True) -> ItemOutcome:
    """Process one item, exactly once, whatever happened to earlier deliveries of its task.

    Raises :class:`TransientError` (nothing charged, nothing kept) when a storage or network
    failure is worth retrying and ``final_attempt`` is False; on the final attempt the item fails
    instead (``storage_error``) and its credit is released.
    """
    with item_lock(item_id) as acquired:
        if not acquired:
            item = JobItem.objects.filter(id=item_id).only("id", "job_id", "status").first()
            return ItemOutcome(
                item_id, item.job_id if item else None, item.status if item else "", "busy"
            )
        item = _claim(item_id)
        if item is None:
            found = JobItem.objects.filter(id=item_id).only("id", "job_id", "status").first()
            if found is None:
                return ItemOutcome(item_id, None, "", "skipped")
            return ItemOutcome(item_id, found.job_id, found.status, "skipped")
        adopted = _settle_leftovers(item)
        if adopted is not None:
            done, last = _finish_item(
                item.id, status=JobItem.Status.DONE, cutout=adopted, timings={"adopted": True}
            )
            return ItemOutcome(item.id, item.job_id, done.status, "adopted", last)
        if item.attempts - int((item.timings or {}).get(RERUN_BASE, 0)) > max_attempts():
            failed, last = _finish_item(
                item.id,
                status=JobItem.Status.FAILED,
                error_code="too_many_attempts",
                error_message=(
                    f"Processing this image was interrupted {item.attempts - 1} times "
                    "(the worker ran out of time or memory); it was not charged."
                ),
            )
            return ItemOutcome(item.id, item.job_id, failed.status, "processed", last)
        tried = item.attempts - int((item.timings or {}).get(RERUN_BASE, 0))
        return _process(item, final_attempt=final_attempt or tried >= max_attempts())


def _process(item: JobItem, *, final_attempt: bool) -> ItemOutcome:
    job = item.job
    timings: dict[str, Any] = {"attempt": item.attempts}
    started = time.perf_counter()
    try:
        data = _read_input(item)
        timings["read_ms"] = round((time.perf_counter() - started) * 1000, 1)
        begun = time.perf_counter()
        cutout = cutout_create(
            workspace=job.workspace,
            data=data,
            options=options_from_dict(job.options),
            user=job.created_by,
            api_key=job.api_key,
            source=Source.BATCH,
            input_name=posixpath.basename(item.name),
            idempotency_key=_attempt_key(item, item.attempts),
            job_item=item,
        )
        timings["cutout_ms"] = round((time.perf_counter() - begun) * 1000, 1)
    except FileNotFoundError:
        failed, last = _finish_item(
            item.id,
            status=JobItem.Status.FAILED,
            error_code="input_missing",
            error_message="The uploaded file is no longer in storage; it was not charged.",
        )
        return ItemOutcome(item.id, item.job_id, failed.status, "processed", last)
    except Exception as exc:
        if isinstance(exc, InsufficientCredits) and job.source == Source.WEB:
            return _wait_for_credits(item)  # API batches fail such items, as documented
        transient = is_transient(exc)
        if transient and not final_attempt:
            _settle_leftovers(item)
            _requeue(item.id)
            raise TransientError(str(exc)) from exc
        if transient or not hasattr(exc, "code"):
            logger.warning("item %s failed", item.id, exc_info=True)
        _settle_leftovers(item)
        timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
        failed, last = _finish_item(
            item.id,
            status=JobItem.Status.FAILED,
            error_code=_error_code(exc),
            error_message=_error_message(exc),
            timings=timings,
        )
        return ItemOutcome(item.id, item.job_id, failed.status, "processed", last)
    timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
    if cutout.status != Cutout.Status.SUCCEEDED:
        failed, last = _finish_item(
            item.id,
            status=JobItem.Status.FAILED,
            error_code=cutout.error_code or "processing_failed",
            error_message=cutout.error_message or "Processing failed; it was not charged.",
            timings=timings,
        )
        return ItemOutcome(item.id, item.job_id, failed.status, "processed", last)
    done, last = _finish_item(item.id, status=JobItem.Status.DONE, cutout=cutout, timings=timings)
    return ItemOutcome(item.id, item.job_id, done.status, "processed", last)


def _wait_for_credits(item: JobItem) -> ItemOutcome:
    """The workspace ran out of credits before this item of a web batch: it waits for a resume
    (:func:`cutout.jobs.services.job_resume`), its input kept. The attempt does not count
    against the item's attempts: nothing ran."""
    _settle_leftovers(item)
    JobItem.objects.filter(id=item.id, attempts__gt=0).update(attempts=F("attempts") - 1)
    waiting, last = _finish_item(
        item.id,
        status=JobItem.Status.WAITING,
        error_code=InsufficientCredits.code,
        error_message="Waiting for credits: it runs once the workspace has one.",
    )
    return ItemOutcome(item.id, item.job_id, waiting.status, "waiting", last)


def _requeue(item_id: Any) -> None:
    """Put an item back to waiting (its task is about to be retried)."""
    JobItem.objects.filter(id=item_id, status=JobItem.Status.RUNNING).update(
        status=JobItem.Status.QUEUED
    )


def job_item_fail(*, item_id: Any, error_code: str, error_message: str) -> ItemOutcome:
    """Fail an unfinished item from outside (e.g. its task gave up); releases any held credit."""
    with item_lock(item_id):
        item = JobItem.objects.select_related("job").filter(id=item_id).first()
        if item is None:
            return ItemOutcome(item_id, None, "", "skipped")
        if item.status in UNFINISHED:
            _settle_leftovers(item)
        failed, last = _finish_item(
            item.id,
            status=JobItem.Status.FAILED,
            error_code=error_code,
            error_message=error_message,
        )
        return ItemOutcome(item.id, item.job_id, failed.status, "processed", last)
