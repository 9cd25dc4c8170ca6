"""Batch jobs: creating them, processing their items on workers, finishing them.

A :class:`~cutout.models.Job` is a batch of images sharing one set of engine options; each image is
a :class:`~cutout.models.JobItem` with its own status, error, timings and resulting
:class:`~cutout.models.Cutout`. The web page and ``POST /api/v1/cutouts?async=true`` call
:func:`job_create`; Celery tasks (:mod:`cutout.tasks`) call :func:`job_item_process` and
:func:`job_finish`; everyone reads progress with :func:`job_progress`.

Exactly once, whatever the broker does
--------------------------------------
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
import csv
import io
import logging
import posixpath
import stat
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import ApiKey, Workspace
from cutout.files import storage
from cutout.models import Cutout, Job, JobItem, Source

if TYPE_CHECKING:
    from accounts.models import User
    from cutout.engine.options import Options

logger = logging.getLogger(__name__)

# Bounds on a batch. Settings may override each (``CUTOUT_BATCH_MAX_ITEMS`` and so on).
DEFAULT_MAX_ITEMS = 500
DEFAULT_MAX_TOTAL_BYTES = 1024 * 1024 * 1024  # uncompressed, whole batch
DEFAULT_MAX_ZIP_ENTRIES = 2000  # entries of any kind (folders and skipped files count too)
DEFAULT_MAX_ATTEMPTS = 5  # deliveries of one item (kills, timeouts, retries) before giving up
SKIPPED_NAMES = {"thumbs.db", "desktop.ini", "__macosx"}
READ_CHUNK = 1024 * 1024


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def max_items() -> int:
    return _setting("CUTOUT_BATCH_MAX_ITEMS", DEFAULT_MAX_ITEMS)


def max_total_bytes() -> int:
    return _setting("CUTOUT_BATCH_MAX_BYTES", DEFAULT_MAX_TOTAL_BYTES)


def max_zip_entries() -> int:
    return _setting("CUTOUT_BATCH_MAX_ZIP_ENTRIES", DEFAULT_MAX_ZIP_ENTRIES)


def max_attempts() -> int:
    return _setting("CUTOUT_ITEM_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)


# ---------------------------------------------------------------------------------------------
# Errors


class JobInputError(Exception):
    """The batch as sent cannot be accepted. Nothing was stored and nothing was charged."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TransientError(Exception):
    """A failure worth retrying (storage or network hiccup); the attempt left nothing behind."""


# ---------------------------------------------------------------------------------------------
# Input: files or one ZIP


@dataclass(frozen=True)
class BatchFile:
    name: str
    data: bytes
    too_large: bool = False  # over the upload limit: its item fails at once, data not kept


def _read_capped(handle: IO[bytes], limit: int) -> bytes | None:
    """Up to ``limit`` bytes; None when there are more (the caller refuses the file)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = handle.read(READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def _is_hidden(parts: Sequence[str]) -> bool:
    return any(part.startswith(".") or part.lower() in SKIPPED_NAMES for part in parts)


def _safe_parts(name: str) -> list[str]:
    """The path's components, or :class:`JobInputError` when it could point outside the archive."""
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        raise JobInputError("unsafe_path", f"The ZIP entry {name!r} has an absolute path.")
    parts = [part for part in normalised.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise JobInputError("unsafe_path", f"The ZIP entry {name!r} points outside the archive.")
    if any("\x00" in part for part in parts):
        raise JobInputError("unsafe_path", f"The ZIP entry {name!r} has a NUL in its name.")
    return parts


def zip_read(archive: bytes | IO[bytes]) -> list[BatchFile]:
    """The images inside a ZIP, checked against the batch bounds.

    Folders, hidden files (``.name``, ``__MACOSX/``) and symbolic links are skipped. The archive is
    refused as a whole (:class:`JobInputError`) when it is not a ZIP, is encrypted, names a path
    outside itself (absolute or ``..``), has more entries than allowed, or would unpack to more
    bytes than allowed, declared or actual (a ZIP bomb stops at the limit).
    """
    handle: IO[bytes] = io.BytesIO(archive) if isinstance(archive, bytes) else archive
    try:
        zf = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise JobInputError("invalid_zip", "The file is not a readable ZIP archive.") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_zip_entries():
            raise JobInputError(
                "too_many_files",
                f"The ZIP has {len(infos)} entries; at most {max_zip_entries()} are accepted.",
            )
        wanted: list[tuple[zipfile.ZipInfo, str]] = []
        for info in infos:
            parts = _safe_parts(info.filename)
            if info.is_dir() or not parts or _is_hidden(parts):
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                continue
            if info.flag_bits & 0x1:
                raise JobInputError("encrypted_zip", "Encrypted ZIP archives are not supported.")
            wanted.append((info, "/".join(parts)))
        if not wanted:
            raise JobInputError("empty_batch", "The ZIP holds no files to process.")
        if len(wanted) > max_items():
            raise JobInputError(
                "too_many_files",
                f"The ZIP holds {len(wanted)} files; a batch takes at most {max_items()}.",
            )
        limit = max_total_bytes()
        declared = sum(info.file_size for info, _ in wanted)
        if declared > limit:
            raise JobInputError(
                "batch_too_large",
                f"The ZIP would unpack to {declared} bytes; a batch takes at most {limit}.",
            )
        files: list[BatchFile] = []
        total = 0
        per_file = settings.CUTOUT_MAX_UPLOAD_BYTES
        for info, name in wanted:
            try:
                with zf.open(info) as entry:
                    # Read one byte past what the entry may hold, so a lying header is caught.
                    data = _read_capped(entry, min(per_file, limit - total) + 1)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
                raise JobInputError(
                    "invalid_zip", f"The ZIP entry {name!r} could not be read ({exc})."
                ) from None
            if data is None or len(data) > min(per_file, limit - total):
                if total + per_file >= limit:
                    raise JobInputError(
                        "batch_too_large", f"The ZIP unpacks to more than {limit} bytes."
                    )
                # One oversized file does not sink the batch: its item fails on its own.
                files.append(BatchFile(name=name, data=b"", too_large=True))
                total += per_file
                continue
            total += len(data)
            files.append(BatchFile(name=name, data=data))
        return files


def _uploaded(files: Iterable[Any]) -> list[BatchFile]:
    out: list[BatchFile] = []
    per_file = settings.CUTOUT_MAX_UPLOAD_BYTES
    total = 0
    for item in files:
        data: bytes | None
        if isinstance(item, BatchFile):
            name, data = item.name, item.data
        elif isinstance(item, tuple):
            name, data = str(item[0]), bytes(item[1])
        else:  # an UploadedFile or any file object with a name
            name = str(getattr(item, "name", "") or "image")
            if hasattr(item, "seek"):
                item.seek(0)
            data = _read_capped(item, per_file)  # None: more than the limit
        too_large = data is None or len(data) > per_file
        data = b"" if data is None or too_large else data
        total += len(data)
        if total > max_total_bytes():
            raise JobInputError(
                "batch_too_large", f"The files add up to more than {max_total_bytes()} bytes."
            )
        name = posixpath.basename(name.replace("\\", "/")) or "image"
        out.append(BatchFile(name=name[:200], data=data, too_large=too_large))
    return out


# ---------------------------------------------------------------------------------------------
# Options


def _options(options: Options | dict[str, Any] | None) -> Options:
    from cutout.engine.options import Options
    from cutout.services import options_from_dict

    if options is None:
        return Options(pipeline=settings.CUTOUT_DEFAULT_PIPELINE)
    if isinstance(options, Options):
        return options
    return options_from_dict(options)


# ---------------------------------------------------------------------------------------------
# Creating a job


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
    safety (:class:`JobInputError`), and that the workspace has a credit available for every file
    (:class:`~billing.errors.InsufficientCredits`). Then stores the inputs, creates the job and its
    items, and queues one task per item once the transaction commits. A file too large on its own
    becomes an item that has already failed (``image_too_large``); the rest go ahead.

    With ``idempotency_key``, asking again returns the job the first call made.
    """
    if idempotency_key:
        found = Job.objects.filter(workspace=workspace, idempotency_key=idempotency_key).first()
        if found is not None:
            return found
    from cutout.services import options_as_dict

    opts = _options(options)
    if (files is None) == (zip_file is None):
        raise JobInputError("missing_files", "Send either image files or one ZIP archive.")
    batch = zip_read(zip_file) if zip_file is not None else _uploaded(files or ())
    if not batch:
        raise JobInputError("empty_batch", "The batch has no files.")
    if len(batch) > max_items():
        raise JobInputError(
            "too_many_files", f"A batch takes at most {max_items()} files; {len(batch)} were sent."
        )
    payable = sum(1 for entry in batch if not entry.too_large)
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


def _check_credits(workspace: Workspace, needed: int) -> None:
    if needed <= 0:
        return
    from billing.errors import InsufficientCredits
    from billing.selectors import balance_for

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
            with contextlib.suppress(Exception):
                storage.storage_delete(item.input.name)
        raise


def _enqueue_after_commit(job_id: Any) -> None:
    """Queue the job's items; a broker outage must not turn the accepted job into an error."""
    try:
        job_enqueue(job_id=job_id)
    except Exception:
        if _eager():
            raise
        # The job is saved; the stale-item sweep (beat) queues its items once the broker is back.
        logger.exception("could not queue the items of job %s now", job_id)


def _eager() -> bool:
    from cutout.celery import app

    return bool(app.conf.task_always_eager)


def job_enqueue(*, job_id: Any, only: Iterable[Any] | None = None) -> int:
    """Queue a task for each item still waiting (or those in ``only``); returns how many."""
    from cutout import tasks

    items = JobItem.objects.filter(job_id=job_id, status=JobItem.Status.QUEUED)
    if only is not None:
        items = items.filter(id__in=list(only))
    ids = list(items.order_by("position").values_list("id", flat=True))
    for item_id in ids:
        tasks.process_job_item.delay(str(item_id))
    if not ids and not JobItem.objects.filter(job_id=job_id, status__in=UNFINISHED).exists():
        tasks.finish_job.delay(str(job_id))
    return len(ids)


# ---------------------------------------------------------------------------------------------
# Progress


UNFINISHED = (JobItem.Status.QUEUED, JobItem.Status.RUNNING)


@dataclass(frozen=True)
class JobProgress:
    total: int
    queued: int
    running: int
    done: int
    failed: int

    @property
    def remaining(self) -> int:
        return self.queued + self.running

    @property
    def finished(self) -> bool:
        return self.remaining == 0

    @property
    def percent(self) -> int:
        return 100 if not self.total else (100 * (self.done + self.failed)) // self.total

    def as_dict(self) -> dict[str, int | bool]:
        return {
            "total": self.total,
            "queued": self.queued,
            "running": self.running,
            "done": self.done,
            "failed": self.failed,
            "remaining": self.remaining,
            "percent": self.percent,
            "finished": self.finished,
        }


def job_progress(job: Job | Any) -> JobProgress:
    """Counts of the job's items by status, in one query."""
    job_id = job.pk if isinstance(job, Job) else job
    S = JobItem.Status
    counts = JobItem.objects.filter(job_id=job_id).aggregate(
        total=Count("id"),
        queued=Count("id", filter=Q(status=S.QUEUED)),
        running=Count("id", filter=Q(status=S.RUNNING)),
        done=Count("id", filter=Q(status=S.DONE)),
        failed=Count("id", filter=Q(status=S.FAILED)),
    )
    return JobProgress(**{key: int(value or 0) for key, value in counts.items()})


# ---------------------------------------------------------------------------------------------
# Processing one item (called by the Celery task)


@dataclass(frozen=True)
class ItemOutcome:
    item_id: Any
    job_id: Any
    status: str  # the item's status afterwards
    action: str  # processed | adopted | skipped (already finished) | busy (held by another)
    job_finished: bool = False


def _lock_key(item_id: Any) -> int:
    import uuid

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
    from celery.exceptions import SoftTimeLimitExceeded

    if isinstance(exc, SoftTimeLimitExceeded):
        return False
    from botocore.exceptions import BotoCoreError, ClientError

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
    from celery.exceptions import SoftTimeLimitExceeded

    if isinstance(exc, SoftTimeLimitExceeded):
        return "timeout"
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        return code[:40]
    return "storage_error" if is_transient(exc) else "processing_failed"


def _error_message(exc: BaseException) -> str:
    from celery.exceptions import SoftTimeLimitExceeded

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
    from billing.models import Reservation
    from billing.services import credits_release

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
        for field in (cutout.original, cutout.matte, cutout.result):
            with contextlib.suppress(Exception):
                storage.storage_delete(field.name)
        Cutout.objects.filter(id=cutout.id).update(
            status=Cutout.Status.FAILED,
            error_code="interrupted",
            error_message="The worker processing this image stopped; it was processed again.",
            finished_at=timezone.now(),
        )
    if adopted is None:
        held = Reservation.objects.filter(job_item_id=item.id, status=Reservation.Status.HELD)
        for reservation in held:
            credits_release(reservation=reservation, reason="interrupted attempt")
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
            if original and not item.job.workspace.keep_originals:
                item.input.name = ""
                transaction.on_commit(lambda: _delete_quietly(original))
            item.save()
        last = not JobItem.objects.filter(job_id=item.job_id, status__in=UNFINISHED).exists()
    return item, last


def _delete_quietly(name: str) -> None:
    try:
        storage.storage_delete(name)
    except Exception:  # the retention sweep removes what could not be deleted now
        logger.warning("could not delete %s now; the retention sweep will", name, exc_info=True)


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
        if item.attempts > max_attempts():
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
        return _process(item, final_attempt=final_attempt or item.attempts >= max_attempts())


def _process(item: JobItem, *, final_attempt: bool) -> ItemOutcome:
    from cutout.services import cutout_create, options_from_dict

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


# ---------------------------------------------------------------------------------------------
# Finishing a job: the results ZIP


def _arcname(name: str, extension: str, used: set[str]) -> str:
    stem = posixpath.splitext(name)[0] or "image"
    candidate = f"{stem}{extension}"
    counter = 2
    while candidate.lower() in used:
        candidate = f"{stem}-{counter}{extension}"
        counter += 1
    used.add(candidate.lower())
    return candidate


def job_results_zip_write(*, job: Job) -> str:
    """Write ``results.zip`` (every result, named after its input, plus ``manifest.csv``)."""
    items = list(JobItem.objects.filter(job=job).select_related("cutout").order_by("position"))
    used: set[str] = {"manifest.csv"}
    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(["position", "input", "status", "result", "error_code", "error_message"])
    with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024) as spool:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for item in items:
                result = ""
                cutout = item.cutout
                if item.status == JobItem.Status.DONE and cutout is not None and cutout.result:
                    extension = posixpath.splitext(str(cutout.result.name))[1] or ".png"
                    result = _arcname(item.name, extension, used)
                    info = zipfile.ZipInfo(result, date_time=_zip_time(item))
                    info.compress_type = zipfile.ZIP_STORED
                    with (
                        default_storage.open(str(cutout.result.name), "rb") as source,
                        zf.open(info, "w", force_zip64=True) as target,
                    ):
                        while chunk := source.read(READ_CHUNK):
                            target.write(chunk)
                writer.writerow(
                    [
                        item.position + 1,
                        item.name,
                        item.status,
                        result,
                        item.error_code,
                        item.error_message,
                    ]
                )
            zf.writestr("manifest.csv", manifest.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
        spool.seek(0)
        previous = job.result_zip.name
        job.result_zip.save("results.zip", File(spool), save=False)
        if previous and previous != job.result_zip.name:
            _delete_quietly(previous)
    return str(job.result_zip.name)


def _zip_time(item: JobItem) -> tuple[int, int, int, int, int, int]:
    moment = timezone.localtime(item.finished_at or timezone.now())
    return (
        max(moment.year, 1980),
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
    )


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
        from cutout import webhooks

        webhooks.job_completed(job=job, progress=progress)
    logger.info("job %s finished: %d done, %d failed", job.id, progress.done, progress.failed)
    return job


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
    if _queue_is_empty():
        stale |= Q(status=JobItem.Status.QUEUED, job__created_at__lt=cutoff)
    ids = list(JobItem.objects.filter(stale).values_list("id", flat=True)[:1000])
    from cutout import tasks

    for item_id in ids:
        tasks.process_job_item.delay(str(item_id))
    # Jobs whose items all finished but whose closing task was lost.
    unclosed = (
        Job.objects.filter(
            status__in=(Job.Status.QUEUED, Job.Status.RUNNING), created_at__lt=cutoff
        )
        .exclude(items__status__in=UNFINISHED)
        .values_list("id", flat=True)[:1000]
    )
    for job_id in unclosed:
        tasks.finish_job.delay(str(job_id))
    if ids:
        logger.info("queued %d stale job items again", len(ids))
    return len(ids)


def _queue_is_empty() -> bool:
    from cutout.celery import app

    try:
        with app.connection_for_read() as conn:
            channel: Any = conn.default_channel
            declared = channel.queue_declare(queue=app.conf.task_default_queue, passive=True)
            return int(declared.message_count) == 0
    except Exception:  # unknown: assume items are waiting their turn
        logger.warning("could not read the broker queue length", exc_info=True)
        return False


def _stale_after() -> timedelta:
    limit = int(getattr(settings, "CELERY_TASK_TIME_LIMIT", 300))
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    visibility = int(options.get("visibility_timeout", 900))
    return timedelta(seconds=max(limit * 3, visibility + 300))
