"""Making cutouts: the one place that turns bytes into a stored, charged (or free) result.

:func:`cutout_create` is called by the web app, every API dialect, Celery tasks and the CLI:

1. An idempotency key seen before returns that cutout again (one charge, same result).
2. Input seen before in the workspace with the same options is served from the stored result:
   a new record, credits_charged 0 (dedup is free).
3. The image is decoded and checked **before** any credit is touched, so bad input costs nothing.
4. A short transaction creates the record and reserves one credit (the reservation refuses when
   the workspace has no credit or the key reached its cap, before any model work).
5. The model runs **outside** any transaction; the matte, the result (and the original, only if
   the workspace keeps originals) are written to storage.
6. A short transaction marks the cutout done and captures the credit.

Any failure after step 4 releases the reservation, deletes what was written, marks the record
failed and re-raises: the caller maps the error to its dialect, and nothing was charged.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from dataclasses import fields
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from PIL import Image

from billing.services import credits_capture, credits_release, credits_reserve
from cutout import engine
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
OPTION_FIELDS = (
    "mode",
    "format",
    "channels",
    "bg_color",
    "size",
    "crop",
    "crop_margin",
    "shadow_opacity",
    "shadow_blur",
    "shadow_offset_x",
    "shadow_offset_y",
    "pipeline",
)


class CutoutInProgress(Exception):
    """The idempotency key belongs to a cutout that is still being made."""

    code = "in_progress"

    def __init__(self, cutout: Cutout) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed; retry shortly."
        )
        self.cutout = cutout


class IdempotencyKeyReused(Exception):
    """The idempotency key was used before for a different image or different options."""

    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was already used for a different image or options; "
            "use a new key for a new request."
        )


# ---------------------------------------------------------------------------------------------
# Helpers


def engine_limits() -> engine.Limits:
    return engine.Limits(
        max_bytes=int(settings.CUTOUT_MAX_UPLOAD_BYTES),
        max_pixels=int(settings.CUTOUT_MAX_PIXELS),
    )


def options_as_dict(options: engine.Options) -> dict[str, Any]:
    """The options as plain JSON values (what is stored on the cutout and hashed for dedup)."""
    names = {f.name for f in fields(options) if f.init}
    out: dict[str, Any] = {}
    for name in OPTION_FIELDS:
        if name in names:
            value = getattr(options, name)
            out[name] = (
                value
                if isinstance(value, bool | int | float | str) or value is None
                else str(value)
            )
    return out


def options_from_dict(data: dict[str, Any]) -> engine.Options:
    names = {f.name for f in fields(engine.Options) if f.init}
    return engine.Options(**{k: v for k, v in data.items() if k in names})


def dedup_key_for(input_sha256: str, options: dict[str, Any]) -> str:
    canonical = json.dumps(options, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{input_sha256}:{canonical}".encode()).hexdigest()


def _metadata(result: Any, matte: Any) -> dict[str, Any]:
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


def foreground_png(decoded: Any, matte: Any) -> bytes:
    """What the stored matte file holds: RGBA whose alpha is the matte.

    The alpha channel is what :func:`engine.matte_from_png` reads. The colour lets the cutout be
    re-rendered later (another mode, background or format) when the original was not kept: the
    decontaminated subject where alpha > 0, and where alpha is 0 a smooth spread of the subject's
    own colours instead of the background. So no background pixel is kept, and when the renderer
    decontaminates edges again it finds subject-coloured surroundings (the edge colour then moves
    at most ``(1 - alpha)`` of the way to the local subject colour, instead of towards black).
    """
    import numpy as np

    from cutout.engine.encode import png_bytes
    from cutout.engine.foreground import STAT_SIDE, estimate_foreground, interleave
    from cutout.engine.matte import matte_text

    alpha = matte.alpha
    colour = estimate_foreground(decoded.rgb, alpha, reduced=decoded.reduced(STAT_SIDE))
    rgba = interleave(colour, alpha)
    outside = alpha == 0
    if outside.all():
        rgba[:] = 0
    elif outside.any():
        # One pass over 32-bit pixels; the fill's alpha is the matte's, i.e. 0 where it is used.
        fill = interleave(_subject_colour_fill(colour, alpha), alpha)
        np.copyto(rgba.view("<u4")[..., 0], fill.view("<u4")[..., 0], where=outside)
    # The engine's PNG writer: a few times quicker than Pillow's on big images, and smaller.
    return png_bytes(rgba, text=matte_text(matte))


def _subject_colour_fill(colour: Any, alpha: Any) -> Any:
    """A smooth full-size RGB field: the alpha-weighted mean subject colour around each pixel,
    computed on a small copy at two scales (near the subject, then further out), falling back to
    the subject's overall mean colour far from it."""
    import numpy as np
    from scipy.ndimage import uniform_filter

    height, width = alpha.shape
    scale = min(1.0, 256 / max(height, width))
    small = (max(1, round(width * scale)), max(1, round(height * scale)))
    c = np.asarray(Image.fromarray(colour, "RGB").resize(small, Image.Resampling.BOX), np.float32)
    a = np.asarray(Image.fromarray(alpha, "L").resize(small, Image.Resampling.BOX), np.float32)
    a = a[..., None] / 255.0
    total = float(a.sum())
    mean = (c * a).sum(axis=(0, 1)) / max(total, 1e-6)
    field = np.broadcast_to(mean, c.shape).copy()
    for radius in (max(small) // 4, max(small) // 24):
        size = (2 * max(radius, 1) + 1,) * 2 + (1,)
        weight = uniform_filter(a, size=size, mode="nearest")
        spread = uniform_filter(c * a, size=size, mode="nearest") / np.maximum(weight, 1e-6)
        use = np.clip(weight * 20.0, 0.0, 1.0)
        field = spread * use + field * (1.0 - use)
    big = Image.fromarray(np.clip(field + 0.5, 0, 255).astype(np.uint8), "RGB")
    return np.asarray(big.resize((width, height), Image.Resampling.BILINEAR))


def _save_file(field: Any, name: str, data: bytes) -> None:
    field.save(name, ContentFile(data), save=False)


def _delete_files(cutout: Cutout) -> None:
    for field in (cutout.original, cutout.matte, cutout.result):
        if field and field.name:
            try:
                field.delete(save=False)
            except Exception:  # cleanup is best effort; the retention task sweeps orphans
                logger.warning("could not delete %s of cutout %s", field.name, cutout.pk)


def _stale(cutout: Cutout) -> bool:
    started = cutout.started_at or cutout.created_at
    return started < timezone.now() - STALE_AFTER


def _release_held(cutout: Cutout, reason: str) -> None:
    from billing.models import Reservation

    for reservation in Reservation.objects.filter(cutout=cutout, status=Reservation.Status.HELD):
        credits_release(reservation=reservation, reason=reason)


def _abandon(cutout: Cutout) -> None:
    """Fail a cutout whose process died, freeing its key and its credit."""
    _release_held(cutout, "abandoned")
    Cutout.objects.filter(pk=cutout.pk).update(
        status=Cutout.Status.FAILED,
        error_code="abandoned",
        error_message="Processing was interrupted.",
        idempotency_key=None,
        finished_at=timezone.now(),
    )


def _replay(existing: Cutout, *, input_sha256: str, options: dict[str, Any]) -> Cutout | None:
    """The cutout an idempotency key already stands for; None when the caller should redo it."""
    if existing.input_sha256 != input_sha256 or existing.options != options:
        raise IdempotencyKeyReused()
    if existing.status == Cutout.Status.SUCCEEDED:
        existing.replayed = True  # type: ignore[attr-defined]
        return existing
    if existing.status in (Cutout.Status.PENDING, Cutout.Status.PROCESSING):
        if not _stale(existing):
            raise CutoutInProgress(existing)
        _abandon(existing)
    return None


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
) -> Cutout:
    """Make (or reuse) the cutout of ``data``; see the module docstring for the steps.

    Raises :class:`engine.EngineError` for bad input or options, ``billing.errors.InsufficientCredits``
    / ``MonthlyCapExceeded`` when it may not be charged, :class:`CutoutInProgress` /
    :class:`IdempotencyKeyReused` for a key in use; never with a credit spent.
    A replayed idempotent result has ``replayed = True`` set on the returned instance.
    """
    if job_item is not None and idempotency_key is None:
        idempotency_key = f"job-item:{job_item.pk}"
    opts = options_as_dict(options)
    input_sha = hashlib.sha256(data).hexdigest()

    if idempotency_key:
        existing = Cutout.objects.filter(
            workspace=workspace, idempotency_key=idempotency_key
        ).first()
        if existing is not None:
            replay = _replay(existing, input_sha256=input_sha, options=opts)
            if replay is not None:
                return replay

    dedup_key = dedup_key_for(input_sha, opts)
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
        return _dedup_copy(
            previous, stored, data=data, common=common, idempotency_key=idempotency_key
        )

    decoded = engine.decode_image(data, engine_limits())

    try:
        with transaction.atomic():
            cutout = Cutout.objects.create(
                **common,
                status=Cutout.Status.PROCESSING,
                width=decoded.width,
                height=decoded.height,
                started_at=timezone.now(),
            )
            reservation = credits_reserve(
                workspace=workspace,
                amount=1,
                user=user,
                api_key=api_key,
                idempotency_key=f"cutout:{cutout.pk}",
                cutout=cutout,
                job_item=job_item,
            )
    except IntegrityError:
        # A concurrent request with the same idempotency key won the race.
        existing = Cutout.objects.filter(
            workspace=workspace, idempotency_key=idempotency_key
        ).first()
        if existing is None:
            raise
        replay = _replay(existing, input_sha256=input_sha, options=opts)
        if replay is None:
            raise CutoutInProgress(existing) from None
        return replay

    _process(cutout, reservation, decoded=decoded, data=data, options=options, workspace=workspace)
    return cutout


def _process(
    cutout: Cutout,
    reservation: Reservation,
    *,
    decoded: Any,
    data: bytes | None,
    options: engine.Options,
    workspace: Workspace,
    matte: Any = None,
) -> None:
    """Steps 5 and 6: run the engine, store, capture. On failure: release, clean up, re-raise."""
    started = time.perf_counter()
    try:
        if matte is None:
            matte = engine.compute_matte(decoded, pipeline=options.pipeline)
            _save_file(cutout.matte, "matte.png", foreground_png(decoded, matte))
        result = engine.render(decoded, matte, options)
        _save_file(cutout.result, f"result.{result.extension}", result.data)
        if data is not None and workspace.keep_originals:
            ext = (decoded.source_format or "bin").lower().replace("jpeg", "jpg")
            _save_file(cutout.original, f"original.{ext}", data)
        cutout.result_content_type = result.content_type
        cutout.result_width = result.width
        cutout.result_height = result.height
        cutout.metadata = _metadata(result, matte)
        cutout.status = Cutout.Status.SUCCEEDED
        cutout.credits_charged = reservation.amount
        cutout.finished_at = timezone.now()
        cutout.processing_ms = round((time.perf_counter() - started) * 1000)
        with transaction.atomic():
            cutout.save()
            credits_capture(reservation=reservation, cutout=cutout)
    except BaseException as exc:
        code = str(getattr(exc, "code", "") or type(exc).__name__)[:40]
        try:
            credits_release(reservation=reservation, reason=f"failed: {code}")
        finally:
            _delete_files(cutout)
            Cutout.objects.filter(pk=cutout.pk).update(
                status=Cutout.Status.FAILED,
                error_code=code,
                error_message=str(getattr(exc, "message", "") or exc)[:2000],
                idempotency_key=None,  # a retry with the same key may try again
                credits_charged=0,
                original="",
                matte="",
                result="",
                finished_at=timezone.now(),
            )
            cutout.status = Cutout.Status.FAILED
            cutout.credits_charged = 0
        raise


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
    previous: Cutout,
    stored: tuple[bytes, bytes],
    *,
    data: bytes,
    common: dict[str, Any],
    idempotency_key: str | None,
) -> Cutout:
    """A new, free record with its own copies of ``previous``'s matte and result."""
    try:
        with transaction.atomic():
            cutout = Cutout.objects.create(
                **common,
                status=Cutout.Status.PROCESSING,
                width=previous.width,
                height=previous.height,
                started_at=timezone.now(),
            )
    except IntegrityError:
        existing = Cutout.objects.filter(
            workspace=common["workspace"], idempotency_key=idempotency_key
        ).first()
        if existing is None:
            raise
        replay = _replay(existing, input_sha256=common["input_sha256"], options=common["options"])
        if replay is None:
            raise CutoutInProgress(existing) from None
        return replay
    try:
        _save_file(cutout.matte, "matte.png", stored[0])
        ext = str(previous.result.name).rsplit(".", 1)[-1]
        _save_file(cutout.result, f"result.{ext}", stored[1])
        if common["workspace"].keep_originals:
            ext = str(previous.original.name).rsplit(".", 1)[-1] if previous.original else "bin"
            _save_file(cutout.original, f"original.{ext}", data)
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
        _delete_files(cutout)
        Cutout.objects.filter(pk=cutout.pk).update(
            status=Cutout.Status.FAILED,
            error_code=str(getattr(exc, "code", "") or type(exc).__name__)[:40],
            error_message=str(exc)[:2000],
            idempotency_key=None,
            matte="",
            result="",
            original="",
            finished_at=timezone.now(),
        )
        raise
    return cutout


def cutout_rerender(*, cutout: Cutout, options: engine.Options, user: User | None = None) -> Cutout:
    """A new cutout from ``cutout``'s stored matte in other options: no model run, no credit.

    The pipeline cannot change (that would need the model); ``options.pipeline`` is ignored.
    """
    if cutout.status != Cutout.Status.SUCCEEDED or not cutout.matte:
        raise engine.InvalidOption("Only a finished cutout can be rendered again.", field="cutout")
    with cutout.matte.open("rb") as handle:
        matte_bytes = handle.read()
    matte = engine.matte_from_png(matte_bytes)
    decoded = _rerender_source(cutout, matte_bytes)
    opts = options_as_dict(options)
    opts["pipeline"] = cutout.options.get("pipeline", cutout.pipeline)
    new = Cutout.objects.create(
        workspace=cutout.workspace,
        created_by=user,
        api_key=None,
        source=cutout.source,
        dialect=cutout.dialect,
        options=opts,
        pipeline=cutout.pipeline,
        input_name=cutout.input_name,
        input_sha256=cutout.input_sha256,
        input_bytes=cutout.input_bytes,
        dedup_key=dedup_key_for(cutout.input_sha256, opts),
        status=Cutout.Status.PROCESSING,
        width=cutout.width,
        height=cutout.height,
        started_at=timezone.now(),
        metadata={"rerender_of": str(cutout.pk)},
    )
    started = time.perf_counter()
    try:
        _save_file(new.matte, "matte.png", matte_bytes)
        result = engine.render(decoded, matte, options)
        _save_file(new.result, f"result.{result.extension}", result.data)
        new.result_content_type = result.content_type
        new.result_width = result.width
        new.result_height = result.height
        new.metadata = {**_metadata(result, matte), "rerender_of": str(cutout.pk)}
        new.status = Cutout.Status.SUCCEEDED
        new.credits_charged = 0
        new.finished_at = timezone.now()
        new.processing_ms = round((time.perf_counter() - started) * 1000)
        new.save()
    except BaseException as exc:
        _delete_files(new)
        Cutout.objects.filter(pk=new.pk).update(
            status=Cutout.Status.FAILED,
            error_code=str(getattr(exc, "code", "") or type(exc).__name__)[:40],
            error_message=str(exc)[:2000],
            matte="",
            result="",
            finished_at=timezone.now(),
        )
        raise
    return new


def _rerender_source(cutout: Cutout, matte_bytes: bytes) -> Any:
    """The colour to render from: the original when kept, else the stored foreground colour."""
    if cutout.original:
        with cutout.original.open("rb") as handle:
            return engine.decode_image(handle.read(), engine_limits())
    with Image.open(io.BytesIO(matte_bytes)) as stored:
        stored.load()
        rgb = stored.convert("RGB")
    return engine.DecodedImage.from_pil(rgb, "PNG")


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
            try:
                storage.storage_delete(name)
            except Exception:  # the retention sweep removes what is left behind
                logger.warning("could not delete %s", name)

    transaction.on_commit(remove_files)
    return len(rows)
