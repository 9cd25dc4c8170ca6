"""Making cutouts: the one place that turns bytes into a stored, charged (or free) result.

:func:`cutout_create` is called by the web app, every API dialect, Celery tasks and the CLI:

1. An idempotency key seen before returns that cutout again (one charge, same result).
2. Input seen before in the workspace with the same options is served from the stored result:
   a new record, credits_charged 0 (dedup is free).
3. The image (and a background picture, if any) is decoded and checked **before** any credit is
   touched, so bad input costs nothing.
4. A short transaction creates the record and reserves one credit (the reservation refuses when
   the workspace has no credit or the key reached its cap, before any model work). A preview
   (an output the size option bounds to 0.25 MP, see :func:`credits_for`) is free: no reservation.
5. The model runs **outside** any transaction; a matte with no subject in it stops here
   (``unknown_foreground``); the matte, the result (and the original, only if the workspace keeps
   originals) are written to storage.
6. A short transaction marks the cutout done and captures the credit.

Any failure after step 4 releases the reservation, deletes what was written, marks the record
failed and re-raises: the caller maps the error to its dialect, and nothing was charged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from billing.services import (
    credits_capture,
    credits_release,
    credits_release_held,
    credits_reserve,
)
from cutout import engine, metrics
from cutout.cutouts.engine_settings import engine_limits
from cutout.errors import CutoutError
from cutout.files import storage
from cutout.models import Cutout, Source

if TYPE_CHECKING:
    from accounts.models import ApiKey, User, Workspace
    from billing.models import Reservation
    from cutout.models import JobItem

logger = logging.getLogger(__name__)

# A cutout "processing" for longer than this was abandoned (its process died): an idempotent
# retry may take it over. Requests and tasks are killed well before (Celery's hard time limit).
STALE_AFTER = timedelta(seconds=getattr(settings, "CELERY_TASK_TIME_LIMIT", 300) + 60)


class CutoutInProgress(CutoutError):
    """The idempotency key belongs to a cutout that is still being made."""

    code = "in_progress"

    def __init__(self, cutout: Cutout) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed; retry shortly."
        )
        self.cutout = cutout


class IdempotencyKeyReused(CutoutError):
    """The idempotency key was used before for a different image or different options."""

    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was already used for a different image or options; "
            "use a new key for a new request."
        )


# ---------------------------------------------------------------------------------------------
# Helpers


def credits_for(options: engine.Options) -> int:
    """What one cutout in ``options`` costs: 0 for a preview (an output of at most 0.25 MP
    whatever the input; remove.bg and Photoroom charge a quarter credit for theirs, which an
    integer ledger cannot hold) or a watermarked test result, 1 for everything else."""
    return 0 if options.is_preview or options.watermark else 1


def with_background(options: engine.Options, background: bytes | None) -> engine.Options:
    """``options`` naming ``background`` by its sha256 (so requests on other pictures differ)."""
    if background is None:
        if options.bg_image is not None:
            raise engine.InvalidOption(
                "bg_image names a background picture, but none was sent", field="bg_image"
            )
        return options
    digest = hashlib.sha256(background).hexdigest()
    return dataclasses.replace(options, bg_image=f"sha256:{digest}")


def dedup_key_for(input_sha256: str, options: dict[str, Any]) -> str:
    canonical = json.dumps(options, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{input_sha256}:{canonical}".encode()).hexdigest()


def result_metadata(result: Any, matte: Any) -> dict[str, Any]:
    """What is stored about a render: the engine's metadata, the matte's scores and models."""
    meta = dict(getattr(result, "metadata", {}) or {})
    meta.setdefault("confidence", getattr(matte, "confidence", None))
    meta.setdefault("coverage", getattr(matte, "coverage", None))
    meta["pipeline"] = getattr(matte, "pipeline", "")
    meta["models"] = list(getattr(matte, "models", ()))
    return json.loads(json.dumps(meta, default=_jsonable))


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


def save_file(field: Any, name: str, data: bytes) -> None:
    field.save(name, ContentFile(data), save=False)


def _delete_files(cutout: Cutout) -> None:
    for field in (cutout.original, cutout.matte, cutout.result):
        if field and field.name:
            try:
                field.delete(save=False)
            except Exception:  # cleanup is best effort; the retention task sweeps orphans
                logger.warning("could not delete %s of cutout %s", field.name, cutout.pk)


def cutout_fail(cutout: Cutout, *, code: str, message: str) -> None:
    """Mark ``cutout`` failed and delete its files: how every cutout that did not finish ends.

    Its idempotency key is freed (a retry with the same key may try again) and it charged
    nothing; a credit it still holds is released by the caller, which knows the reservation.
    """
    _delete_files(cutout)
    Cutout.objects.filter(pk=cutout.pk).update(
        status=Cutout.Status.FAILED,
        error_code=code[:40],
        error_message=message[:2000],
        idempotency_key=None,
        credits_charged=0,
        original="",
        matte="",
        result="",
        finished_at=timezone.now(),
    )
    cutout.status = Cutout.Status.FAILED
    cutout.credits_charged = 0


def cutout_fail_with(cutout: Cutout, exc: BaseException) -> None:
    """:func:`cutout_fail` with what ``exc`` says (its code, or its type's name)."""
    code = str(getattr(exc, "code", "") or type(exc).__name__)
    cutout_fail(cutout, code=code, message=str(getattr(exc, "message", "") or exc))


def _stale(cutout: Cutout) -> bool:
    started = cutout.started_at or cutout.created_at
    return started < timezone.now() - STALE_AFTER


def _replay(existing: Cutout, *, input_sha256: str, options: dict[str, Any]) -> Cutout | None:
    """The cutout an idempotency key already stands for; None when the caller should redo it.

    A cutout still processing long after any process could be working on it was abandoned (its
    process died): it fails, freeing its key and its credit, and the caller makes it again.
    """
    if existing.input_sha256 != input_sha256 or existing.options != options:
        raise IdempotencyKeyReused()
    if existing.status == Cutout.Status.SUCCEEDED:
        existing.replayed = True  # type: ignore[attr-defined]
        return existing
    if existing.status in (Cutout.Status.PENDING, Cutout.Status.PROCESSING):
        if not _stale(existing):
            raise CutoutInProgress(existing)
        credits_release_held(cutout=existing, reason="abandoned")
        cutout_fail(existing, code="abandoned", message="Processing was interrupted.")
    return None


def _replay_for_key(
    workspace: Workspace, idempotency_key: str | None, *, input_sha256: str, options: dict[str, Any]
) -> Cutout | None:
    """What an idempotency key already made, if anything (see :func:`_replay`)."""
    if not idempotency_key:
        return None
    existing = Cutout.objects.filter(workspace=workspace, idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    return _replay(existing, input_sha256=input_sha256, options=options)


def _race_lost(common: dict[str, Any], error: IntegrityError) -> Cutout:
    """A concurrent request with the same idempotency key created its record first."""
    existing = Cutout.objects.filter(
        workspace=common["workspace"], idempotency_key=common["idempotency_key"]
    ).first()
    if existing is None:
        raise error
    replay = _replay(existing, input_sha256=common["input_sha256"], options=common["options"])
    if replay is None:
        raise CutoutInProgress(existing) from None
    return replay


def _dedup_source(workspace: Workspace, dedup_key: str) -> Cutout | None:
    return (
        Cutout.objects.filter(
            workspace=workspace, dedup_key=dedup_key, status=Cutout.Status.SUCCEEDED
        )
        .exclude(result="")
        .exclude(matte="")
        .order_by("-created_at")
        .first()
    )


# ---------------------------------------------------------------------------------------------
# Services


def cutout_create(
    *,
    workspace: Workspace,
    data: bytes,
    options: engine.Options,
    user: User | None = None,
    api_key: ApiKey | None = None,
    source: str = Source.API,
    dialect: str = "",
    input_name: str = "",
    idempotency_key: str | None = None,
    job_item: JobItem | None = None,
    background: bytes | None = None,
) -> Cutout:
    """Make (or reuse) the cutout of ``data``; see the module docstring for the steps.

    ``background`` is a picture to put under the subject (``options.bg_image`` is set to its
    sha256 here).

    Raises :class:`engine.EngineError` for bad input or options, ``billing.errors.InsufficientCredits``
    / ``MonthlyCapExceeded`` when it may not be charged, :class:`CutoutInProgress` /
    :class:`IdempotencyKeyReused` for a key in use; never with a credit spent.
    A replayed idempotent result has ``replayed = True`` set on the returned instance.
    """
    if job_item is not None and idempotency_key is None:
        idempotency_key = f"job-item:{job_item.pk}"
    options = with_background(options, background)
    opts = engine.options_as_dict(options)
    input_sha = hashlib.sha256(data).hexdigest()
    replay = _replay_for_key(workspace, idempotency_key, input_sha256=input_sha, options=opts)
    if replay is not None:
        return replay

    dedup_key = dedup_key_for(input_sha, opts)
    # The record's fields whichever way it is made (processed, or copied from a dedup source).
    common: dict[str, Any] = {
        "workspace": workspace,
        "created_by": user,
        "api_key": api_key,
        "source": source,
        "dialect": dialect,
        "options": opts,
        "pipeline": opts.get("pipeline", ""),
        "input_name": input_name[:255],
        "input_sha256": input_sha,
        "input_bytes": len(data),
        "dedup_key": dedup_key,
        "idempotency_key": idempotency_key,
    }
    previous = _dedup_source(workspace, dedup_key)
    stored = _dedup_files(previous) if previous is not None else None
    if previous is not None and stored is not None:
        return _dedup_copy(previous, stored, data=data, common=common)

    try:
        decoded = engine.decode_image(data, engine_limits())
        backdrop = engine.decode_background(background, engine_limits()) if background else None
    except engine.EngineError:
        metrics.CUTOUTS.labels(pipeline=common["pipeline"], outcome="rejected").inc()
        raise
    try:
        cutout, reservation = _reserve(
            common, decoded, amount=credits_for(options), job_item=job_item
        )
    except IntegrityError as exc:
        return _race_lost(common, exc)
    work = _Work(decoded=decoded, data=data, options=options, background=backdrop)
    _process(cutout, reservation, work, workspace=workspace)
    return cutout


def _record(common: dict[str, Any], *, width: int | None, height: int | None) -> Cutout:
    """The record of a cutout being made (its idempotency key, if any, is unique)."""
    return Cutout.objects.create(
        **common,
        status=Cutout.Status.PROCESSING,
        width=width,
        height=height,
        started_at=timezone.now(),
    )


def _reserve(
    common: dict[str, Any], decoded: Any, *, amount: int, job_item: JobItem | None
) -> tuple[Cutout, Reservation | None]:
    """Step 4: the record and its credit (none for free work), in one short transaction."""
    with transaction.atomic():
        cutout = _record(common, width=decoded.width, height=decoded.height)
        if amount == 0:
            return cutout, None
        reservation = credits_reserve(
            workspace=common["workspace"],
            amount=amount,
            user=common["created_by"],
            api_key=common["api_key"],
            idempotency_key=f"cutout:{cutout.pk}",
            cutout=cutout,
            job_item=job_item,
        )
    return cutout, reservation


@dataclass(frozen=True)
class _Work:
    """What the engine works on for one cutout."""

    decoded: Any  # engine.DecodedImage
    data: bytes | None  # the upload, kept only if the workspace keeps originals
    options: engine.Options
    background: Any = None  # engine.DecodedImage of the background picture, if any


def _process(
    cutout: Cutout, reservation: Reservation | None, work: _Work, *, workspace: Workspace
) -> None:
    """Steps 5 and 6: run the engine, store, capture. On failure: release, clean up, re-raise."""
    started = time.perf_counter()
    decoded, options = work.decoded, work.options
    try:
        matte = engine.compute_matte(decoded, pipeline=options.pipeline)
        inference_s = time.perf_counter() - started
        engine.require_foreground(matte)  # nothing found: refused, and not charged
        save_file(cutout.matte, "matte.png", engine.stored_matte_png(decoded, matte))
        result = engine.render(decoded, matte, options, background=work.background)
        save_file(cutout.result, f"result.{result.extension}", result.data)
        if work.data is not None and workspace.keep_originals:
            ext = (decoded.source_format or "bin").lower().replace("jpeg", "jpg")
            save_file(cutout.original, f"original.{ext}", work.data)
        cutout.result_content_type = result.content_type
        cutout.result_width = result.width
        cutout.result_height = result.height
        cutout.metadata = result_metadata(result, matte)
        cutout.status = Cutout.Status.SUCCEEDED
        cutout.credits_charged = reservation.amount if reservation is not None else 0
        cutout.finished_at = timezone.now()
        cutout.processing_ms = round((time.perf_counter() - started) * 1000)
        with transaction.atomic():
            cutout.save()
            if reservation is not None:
                credits_capture(reservation=reservation, cutout=cutout)
    except BaseException as exc:
        metrics.CUTOUTS.labels(pipeline=options.pipeline, outcome="failed").inc()
        code = str(getattr(exc, "code", "") or type(exc).__name__)[:40]
        try:
            if reservation is not None:
                credits_release(reservation=reservation, reason=f"failed: {code}")
        finally:
            cutout_fail_with(cutout, exc)
        raise
    metrics.CUTOUTS.labels(pipeline=options.pipeline, outcome="succeeded").inc()
    metrics.INFERENCE.labels(pipeline=options.pipeline).observe(inference_s)
    metrics.CUTOUT_SECONDS.labels(pipeline=options.pipeline).observe(time.perf_counter() - started)
    metrics.CREDITS_CHARGED.inc(reservation.amount if reservation is not None else 0)


def _dedup_files(previous: Cutout) -> tuple[bytes, bytes] | None:
    """``previous``'s stored matte and result; None (and no more dedup from it) if unreadable.

    Files can go missing under a record (a retention sweep stopped halfway, a bucket cleaned by
    hand). Such a record must not answer every identical request with an error: it is taken out
    of dedup, and the request is processed afresh.
    """
    try:
        with previous.matte.open("rb") as handle:
            matte = handle.read()
        with previous.result.open("rb") as handle:
            result = handle.read()
    except FileNotFoundError as exc:  # locally and on S3 (django-storages maps its 404)
        logger.warning(
            "cutout %s cannot be reused (%s); processing the request again",
            previous.pk,
            type(exc).__name__,
        )
        Cutout.objects.filter(pk=previous.pk).update(dedup_key="")
        return None
    return matte, result


def _dedup_copy(
    previous: Cutout, stored: tuple[bytes, bytes], *, data: bytes, common: dict[str, Any]
) -> Cutout:
    """A new, free record with its own copies of ``previous``'s matte and result."""
    try:
        with transaction.atomic():
            cutout = _record(common, width=previous.width, height=previous.height)
    except IntegrityError as exc:
        return _race_lost(common, exc)
    try:
        save_file(cutout.matte, "matte.png", stored[0])
        ext = str(previous.result.name).rsplit(".", 1)[-1]
        save_file(cutout.result, f"result.{ext}", stored[1])
        if common["workspace"].keep_originals:
            ext = str(previous.original.name).rsplit(".", 1)[-1] if previous.original else "bin"
            save_file(cutout.original, f"original.{ext}", data)
        cutout.result_content_type = previous.result_content_type
        cutout.result_width = previous.result_width
        cutout.result_height = previous.result_height
        cutout.metadata = {**previous.metadata, "dedup_of": str(previous.pk)}
        cutout.status = Cutout.Status.SUCCEEDED
        cutout.credits_charged = 0
        cutout.finished_at = timezone.now()
        cutout.processing_ms = 0
        cutout.save()
    except BaseException as exc:
        cutout_fail_with(cutout, exc)
        raise
    metrics.CUTOUTS.labels(pipeline=common["pipeline"], outcome="deduplicated").inc()
    return cutout


def cutouts_delete(*, workspace: Workspace, cutouts: list[Cutout]) -> int:
    """Delete ``cutouts`` of ``workspace`` with their re-renders; return how many rows went.

    Rows go in one transaction; their files (original, matte, result, thumbnail) are removed from
    storage after it commits, so a rollback never leaves rows pointing at deleted files. A file
    that cannot be removed is logged and left to the retention sweep. The credit ledger keeps
    its entries: a cutout that was paid for stays paid for.
    """
    ids = [str(c.pk) for c in cutouts]
    rows = list(
        Cutout.objects.filter(workspace=workspace).filter(
            Q(pk__in=ids) | Q(metadata__rerender_of__in=ids)
        )
    )
    names: list[str] = []
    for row in rows:
        for field in (row.original, row.matte, row.result):
            if field and field.name:
                names.append(str(field.name))
        if row.thumbnail_name:
            names.append(row.thumbnail_name)
    with transaction.atomic():
        Cutout.objects.filter(pk__in=[r.pk for r in rows]).delete()

    def remove_files() -> None:
        for name in names:
            storage.storage_delete_quietly(name)

    transaction.on_commit(remove_files)
    return len(rows)
