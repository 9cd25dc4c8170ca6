"""Guided refinement of a finished cutout: hints in, a new version of its matte and result out.

:func:`cutout_refine` is what the API (``POST /api/v1/cutouts/{id}/refine``), the web editor and
an upload with hints call. Each call carries the complete hint list: the result is a pure
function of the image, the pipeline and the hints (``engine.edit_cutout``), so a list seen before
reuses that version's matte. Refining costs no credit and touches no ledger.

Versions (:class:`cutout.models.CutoutVersion`): the first refine records the automatic matte
as version 0; every call adds one. The cutout's own ``matte`` / ``result`` / ``hints`` /
``version`` become the new version's, so every reader sees the latest. Bad hints raise
:class:`engine.InvalidOption` (field ``hints``) before anything is read or stored; a cutout
whose original is gone (its editing window ended) raises :class:`NotEditable`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from cutout import engine
from cutout.cutouts.engine_settings import engine_limits
from cutout.cutouts.records import (
    dedup_key_for,
    refuse_paid_from_free,
    result_metadata,
    save_file,
    stored_backdrop,
)
from cutout.errors import CutoutError
from cutout.files import storage
from cutout.models import Cutout, CutoutVersion

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

MAX_VERSIONS = 200  # versions kept per cutout; older ones (not 0, not the current) are pruned


class NotEditable(CutoutError):
    """The cutout cannot be refined (not finished, a re-render, or its original is gone)."""

    code = "not_editable"


def cutout_editable(cutout: Cutout, *, now: datetime | None = None) -> bool:
    """Whether ``cutout`` can be refined now: finished, made from an upload, original kept."""
    if cutout.status != Cutout.Status.SUCCEEDED or not cutout.original or not cutout.matte:
        return False
    if (cutout.metadata or {}).get("rerender_of"):
        return False
    return cutout.editable_until is None or (now or timezone.now()) < cutout.editable_until


def _check(cutout: Cutout, original: bytes | None) -> None:
    if cutout.status != Cutout.Status.SUCCEEDED or not cutout.matte:
        raise NotEditable("Only a finished cutout can be refined.")
    if (cutout.metadata or {}).get("rerender_of"):
        raise NotEditable(
            "This is a re-render of another cutout; refine the cutout it was made from."
        )
    if original is None and not cutout_editable(cutout):
        raise NotEditable(
            "The original of this cutout is no longer kept (its editing window is over), so "
            "it cannot be refined; upload the image again."
        )


def hints_key(hints: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(hints, separators=(",", ":")).encode()).hexdigest()


def _read(field: Any) -> bytes:
    with field.open("rb") as handle:
        data: bytes = handle.read()
    return data


def _read_quietly(field: Any) -> bytes | None:
    if not field or not field.name:
        return None
    try:
        return _read(field)
    except FileNotFoundError:  # a lost prior is made again
        return None


def _base_version(cutout: Cutout) -> CutoutVersion | None:
    return CutoutVersion.objects.filter(cutout=cutout, number=0).first()


def _version_options(cutout: Cutout, options: engine.Options | None) -> dict[str, Any]:
    opts = engine.options_as_dict(options or engine.options_from_dict(cutout.options or {}))
    opts["pipeline"] = (cutout.options or {}).get("pipeline", cutout.pipeline)
    return opts


def cutout_refine(
    *,
    cutout: Cutout,
    hints: Any,
    options: engine.Options | None = None,
    user: User | None = None,
    original: bytes | None = None,
) -> Cutout:
    """Refine ``cutout`` with ``hints`` (raw list or parsed), rendered in ``options`` (default:
    its current options; the pipeline never changes). ``original``: the image bytes when the
    caller has them (an upload with hints), else the kept original is read. Returns the cutout,
    updated to the new version."""
    _check(cutout, original)
    parsed = engine.parse_hints(hints, width=cutout.width or 0, height=cutout.height or 0)
    opts = _version_options(cutout, options)
    render_options = engine.options_from_dict(opts)
    refuse_paid_from_free(cutout, render_options)
    # A cutout on a picture is refined on it (versions share its folder, so they find it too).
    backdrop = stored_backdrop(cutout, render_options)
    hints_json = engine.hints_as_json(parsed)
    key = hints_key(hints_json)
    started = time.perf_counter()
    image_bytes = original if original is not None else _read(cutout.original)
    same = CutoutVersion.objects.filter(cutout=cutout, hints_key=key).order_by("-number").first()
    if same is not None and same.matte:
        made = _from_version(same, image_bytes, render_options, opts, backdrop)
    else:
        base = _base_version(cutout)
        edit = engine.edit_cutout(
            image_bytes,
            parsed,
            base_matte=_read(base.matte if base is not None else cutout.matte),
            prior=_read_quietly(cutout.prior),
            options=render_options,
            pipeline=opts["pipeline"],
            limits=engine_limits(),
            background=backdrop,
        )
        made = _Made(edit.stored_matte, None, edit.result, edit.matte, edit.prior, edit.timings)
    elapsed = round((time.perf_counter() - started) * 1000)
    return _store(cutout, made, hints_json=hints_json, key=key, opts=opts, user=user, ms=elapsed)


class _Made:
    """What a refine produced: new bytes to store, or names of an earlier version's files."""

    def __init__(
        self,
        matte: bytes | str,
        result_name: str | None,
        result: Any,
        matte_obj: engine.Matte,
        prior: bytes | None,
        timings: dict[str, float],
    ) -> None:
        self.matte = matte
        self.result_name = result_name
        self.result = result
        self.matte_obj = matte_obj
        self.prior = prior
        self.timings = timings


def _from_version(
    same: CutoutVersion,
    image_bytes: bytes,
    options: engine.Options,
    opts: dict[str, Any],
    backdrop: engine.DecodedImage | None,
) -> _Made:
    """An earlier version with the same hints: its matte again (no refining), its result too
    when the options are the same, else rendered anew."""
    matte_bytes = _read(same.matte)
    matte = engine.matte_from_png(matte_bytes)
    if same.options == opts and same.result:
        return _Made(str(same.matte.name), str(same.result.name), None, matte, None, {})
    decoded = engine.decode_image(image_bytes, engine_limits())
    result = engine.render(decoded, matte, options, background=backdrop)
    return _Made(str(same.matte.name), None, result, matte, None, {})


def _write(version: CutoutVersion, made: _Made, token: str) -> list[str]:
    """Store the new files on ``version`` (unsaved); returns the names written."""
    written: list[str] = []
    if isinstance(made.matte, str):
        version.matte.name = made.matte
    else:
        save_file(version.matte, f"v-{token}-matte.png", made.matte)
        written.append(str(version.matte.name))
    if made.result_name is not None:
        version.result.name = made.result_name
    else:
        save_file(version.result, f"v-{token}-result.{made.result.extension}", made.result.data)
        written.append(str(version.result.name))
    return written


def _store(
    cutout: Cutout,
    made: _Made,
    *,
    hints_json: list[dict[str, Any]],
    key: str,
    opts: dict[str, Any],
    user: User | None,
    ms: int,
) -> Cutout:
    """Write the version's files, then record it and point the cutout at it, in one transaction.
    On any failure the files written are removed and the cutout stays as it was."""
    token = secrets.token_hex(6)
    version = CutoutVersion(cutout=cutout, hints=hints_json, hints_key=key, options=opts)
    written: list[str] = []
    old_prior = cutout.prior.name
    try:
        written = _write(version, made, token)
        if made.prior is not None:
            save_file(cutout.prior, f"prior-{token}.npz", made.prior)
            written.append(str(cutout.prior.name))
        with transaction.atomic():
            updated = _record(cutout, version, made, hints_json, opts, user, ms)
    except BaseException:
        cutout.prior.name = old_prior
        for name in written:
            storage.storage_delete_quietly(name)
        raise
    transaction.on_commit(lambda: _prune(updated))
    return updated


def _first_version(locked: Cutout) -> None:
    """Version 0: the automatic matte and result, as the cutout holds them before its first
    refine."""
    if locked.versions.exists():
        return
    CutoutVersion.objects.create(
        cutout=locked,
        number=0,
        hints=[],
        hints_key=hints_key([]),
        matte=locked.matte.name,
        result=locked.result.name,
        result_content_type=locked.result_content_type,
        result_width=locked.result_width,
        result_height=locked.result_height,
        options=locked.options,
        created_at=locked.finished_at or locked.created_at,
    )


def _record(
    cutout: Cutout,
    version: CutoutVersion,
    made: _Made,
    hints_json: list[dict[str, Any]],
    opts: dict[str, Any],
    user: User | None,
    ms: int,
) -> Cutout:
    locked = Cutout.objects.select_for_update().get(pk=cutout.pk)
    _first_version(locked)
    top = locked.versions.aggregate(top=Max("number"))["top"] or 0
    result = made.result
    version.number = top + 1
    version.created_by = user
    version.processing_ms = ms
    if result is not None:
        version.result_content_type = result.content_type
        version.result_width, version.result_height = result.width, result.height
    else:  # the same files as an earlier version
        earlier = locked.versions.filter(result=version.result.name).first()
        if earlier is not None:
            version.result_content_type = earlier.result_content_type
            version.result_width, version.result_height = (
                earlier.result_width,
                earlier.result_height,
            )
    version.save()
    previous_prior = locked.prior.name
    meta = dict(locked.metadata or {})
    if result is not None:
        meta.update(result_metadata(result, made.matte_obj))
    meta.setdefault("upload_options", locked.options)
    meta["refine"] = {"version": version.number, "ms": ms, "timings_ms": made.timings}
    locked.matte.name = version.matte.name
    locked.result.name = version.result.name
    locked.result_content_type = version.result_content_type
    locked.result_width, locked.result_height = version.result_width, version.result_height
    locked.options, locked.hints, locked.version, locked.metadata = (
        opts,
        hints_json,
        version.number,
        meta,
    )
    locked.dedup_key = dedup_key_for(
        locked.input_sha256, {**opts, "hints": hints_json} if hints_json else opts
    )
    if made.prior is not None:
        locked.prior.name = cutout.prior.name
        if previous_prior and previous_prior != locked.prior.name:
            transaction.on_commit(lambda: storage.storage_delete_quietly(previous_prior))
    locked.save()
    return locked


def _prune(cutout: Cutout) -> None:
    """Keep at most :data:`MAX_VERSIONS` versions: the oldest go (never 0 or the current one),
    with the files no remaining version uses."""
    versions = list(CutoutVersion.objects.filter(cutout=cutout).order_by("number"))
    if len(versions) <= MAX_VERSIONS:
        return
    extra = len(versions) - MAX_VERSIONS
    doomed = [v for v in versions if v.number not in (0, cutout.version)][:extra]
    kept = [v for v in versions if v not in doomed]
    live = {str(n) for v in kept for n in (v.matte.name, v.result.name) if n}
    CutoutVersion.objects.filter(pk__in=[v.pk for v in doomed]).delete()
    for v in doomed:
        for name in (v.matte.name, v.result.name):
            if name and str(name) not in live:
                storage.storage_delete_quietly(str(name))
