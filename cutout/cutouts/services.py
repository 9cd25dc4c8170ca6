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

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
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
from cutout.cutouts.records import (
    background_bytes,
    background_store,
    credits_for,
    dedup_key_for,
    result_metadata,
    save_file,
    stored_names,
    with_background,
)
from cutout.cutouts.refine import cutout_refine
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


def keeps_original(workspace: Workspace) -> bool:
    """Whether a new cutout's original is kept: for good (``keep_originals``) or for the
    workspace's editing window (``edit_window_hours`` > 0), so that it can be refined."""
    return bool(workspace.keep_originals or (workspace.edit_window_hours or 0) > 0)


def editable_until(workspace: Workspace) -> datetime | None:
    """The end of a new cutout's editing window; None where originals are kept for good."""
    if workspace.keep_originals:
        return None
    return timezone.now() + timedelta(hours=int(workspace.edit_window_hours or 0))


def _delete_files(cutout: Cutout) -> None:
    for field in (cutout.original, cutout.matte, cutout.result, cutout.prior):
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
        prior="",
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
    # A refine may since have rendered it in other options: the upload's own count here.
    asked = (existing.metadata or {}).get("upload_options", existing.options)
    if existing.input_sha256 != input_sha256 or asked != options:
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
            workspace=workspace,
            dedup_key=dedup_key,
            status=Cutout.Status.SUCCEEDED,
            deleted_at__isnull=True,
        )
        .exclude(result="")
        .exclude(matte="")
        .order_by("-created_at")
        .first()
    )


def _decode(data: bytes, *, pipeline: str) -> engine.DecodedImage:
    """The upright image, or the engine's error counted as a rejected cutout."""
    try:
        return engine.decode_image(data, engine_limits())
    except engine.EngineError:
        metrics.CUTOUTS.labels(pipeline=pipeline, outcome="rejected").inc()
        raise


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
    hints: Any = None,
    roi: str | None = None,
) -> Cutout:
    """Make (or reuse) the cutout of ``data``; see the module docstring for the steps.

    ``background`` is a picture to put under the subject (``options.bg_image`` is set to its
    sha256 here).

    Raises :class:`engine.EngineError` for bad input or options, ``billing.errors.InsufficientCredits``
    / ``MonthlyCapExceeded`` when it may not be charged, :class:`CutoutInProgress` /
    :class:`IdempotencyKeyReused` for a key in use; never with a credit spent.
    A replayed idempotent result has ``replayed = True`` set on the returned instance.
    ``hints`` (a box at upload time, say) or remove.bg's ``roi`` refine the new cutout at once
    (free, as any refine: see :mod:`cutout.cutouts.refine`); they are checked before any charge.
    """
    if job_item is not None and idempotency_key is None:
        idempotency_key = f"job-item:{job_item.pk}"
    options = with_background(options, background)
    opts = engine.options_as_dict(options)
    input_sha = hashlib.sha256(data).hexdigest()
    replay = _replay_for_key(workspace, idempotency_key, input_sha256=input_sha, options=opts)
    if replay is not None:
        return replay

    decoded = None
    upload_hints: tuple[engine.Hint, ...] = ()
    if hints or roi:
        decoded = _decode(data, pipeline=opts.get("pipeline", ""))
        upload_hints = _upload_hints(decoded, hints, roi)
        if background is not None:
            raise engine.InvalidOption(
                "roi and hints cannot be combined with a background picture yet: send the "
                "picture to the refined cutout's version instead.",
                field="roi" if roi else "hints",
            )
    dedup_key = dedup_key_for(
        input_sha,
        {**opts, "hints": engine.hints_as_json(upload_hints)} if upload_hints else opts,
    )
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
    previous = None if upload_hints else _dedup_source(workspace, dedup_key)
    stored = _dedup_files(previous) if previous is not None else None
    if previous is not None and stored is not None:
        return _dedup_copy(previous, stored, data=data, common=common)

    decoded = decoded or _decode(data, pipeline=common["pipeline"])
    backdrop = engine.decode_background(background, engine_limits()) if background else None
    try:
        cutout, reservation = _reserve(
            common, decoded, amount=credits_for(options), job_item=job_item
        )
    except IntegrityError as exc:
        return _race_lost(common, exc)
    work = _Work(
        decoded=decoded,
        data=data,
        options=options,
        background=backdrop,
        background_data=background,
    )
    _process(cutout, reservation, work, workspace=workspace)
    if upload_hints:
        cutout = cutout_refine(
            cutout=cutout, hints=upload_hints, options=options, user=user, original=data
        )
    return cutout


def _upload_hints(decoded: Any, hints: Any, roi: str | None) -> tuple[engine.Hint, ...]:
    """The hints an upload carries (``roi`` as a box first); InvalidOption when bad."""
    parsed = list(engine.parse_hints(hints, width=decoded.width, height=decoded.height))
    if roi:
        box = engine.parse_roi(roi, width=decoded.width, height=decoded.height)
        if box is not None:
            if any(hint.box is not None for hint in parsed):
                raise engine.InvalidOption("Send roi or a box hint, not both.", field="roi")
            parsed.insert(0, box)
    return tuple(parsed)


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
    background_data: bytes | None = None  # its bytes, kept next to the result


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
        background_store(cutout, work.background_data)
        if work.data is not None and keeps_original(workspace):
            ext = (decoded.source_format or "bin").lower().replace("jpeg", "jpg")
            save_file(cutout.original, f"original.{ext}", work.data)
            prior = engine.prior_from_matte(decoded, matte)
            save_file(cutout.prior, "prior.npz", engine.prior_to_bytes(prior))
            cutout.editable_until = editable_until(workspace)
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
        background_store(cutout, background_bytes(previous))
        if keeps_original(common["workspace"]):
            ext = str(previous.original.name).rsplit(".", 1)[-1] if previous.original else "bin"
            save_file(cutout.original, f"original.{ext}", data)
            cutout.editable_until = editable_until(common["workspace"])
            if previous.prior:
                with previous.prior.open("rb") as handle:
                    save_file(cutout.prior, "prior.npz", handle.read())
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
    names = stored_names(rows)
    with transaction.atomic():
        Cutout.objects.filter(pk__in=[r.pk for r in rows]).delete()

    def remove_files() -> None:
        for name in names:
            storage.storage_delete_quietly(name)

    transaction.on_commit(remove_files)
    return len(rows)
