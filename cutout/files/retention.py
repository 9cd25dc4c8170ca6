"""Keeping only what a workspace wants kept (run by Celery beat: :func:`retention_sweep`).

1. Retention: a workspace with ``retention_days`` set loses its cutouts and finished jobs older
   than that many days: their files first, then the rows. The credit ledger keeps its entries
   (their link to the cutout becomes empty), so billing history stays complete.
2. Trash: cutouts deleted from the library (``deleted_at``) longer ago than :data:`UNDO_WINDOW`
   are purged, files and rows (until then :mod:`cutout.cutouts.trash` can bring them back).
3. Originals: where the workspace does not keep originals, the original of a finished cutout is
   kept for its editing window (``Cutout.editable_until``, from the workspace's
   ``edit_window_hours``: refining and the before/after view need it) and removed after it, with
   the prior refining reads; any other original still stored for a finished cutout or job item
   (say, the workspace turned the option off, or a delete failed) is removed.
4. Orphans: objects under ``ws/`` that no row points to any more (an interrupted upload, a worker
   killed halfway, a workspace deleted) are removed once older than a grace period long enough
   that no work in progress can still be about to record them.
"""

from __future__ import annotations

import logging
import posixpath
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from django.db.models import Q
from django.utils import timezone

from accounts.models import Workspace
from cutout.files import storage
from cutout.models import Cutout, CutoutVersion, Job, JobItem

logger = logging.getLogger(__name__)

ORPHAN_GRACE = timedelta(hours=6)
UNDO_WINDOW = timedelta(minutes=10)  # how long a cutout deleted from the library can come back
BATCH = 500
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# Names of files the web app derives from a cutout's result, next to it.
# The library's thumbnail; the result in other formats; the background picture it was rendered on.
DERIVED_PREFIXES = ("thumb.", "format.", "background.")
_CUTOUT_KEY = re.compile(rf"^ws/(?P<ws>[^/]+)/cutouts/(?P<id>{_UUID})/[^/]+$")
_JOB_KEY = re.compile(rf"^ws/(?P<ws>[^/]+)/jobs/(?P<id>{_UUID})/[^/]+$")
_INPUT_KEY = re.compile(rf"^ws/(?P<ws>[^/]+)/jobs/(?P<job>{_UUID})/inputs/(?P<id>{_UUID})-.+$")


@dataclass
class SweepReport:
    cutouts_deleted: int = 0
    trash_purged: int = 0
    jobs_deleted: int = 0
    originals_deleted: int = 0
    orphans_deleted: int = 0
    files_deleted: int = 0
    unknown_kept: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cutouts_deleted": self.cutouts_deleted,
            "trash_purged": self.trash_purged,
            "jobs_deleted": self.jobs_deleted,
            "originals_deleted": self.originals_deleted,
            "orphans_deleted": self.orphans_deleted,
            "files_deleted": self.files_deleted,
            "unknown_kept": self.unknown_kept,
            "errors": self.errors[:20],
        }


def _chunks(items: Iterable[Any], size: int = BATCH) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _delete_file(name: str, report: SweepReport) -> bool:
    if not name:
        return True
    try:
        storage.storage_delete(name)
    except Exception as exc:  # keep going: one unreachable object must not stop the sweep
        report.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        return False
    report.files_deleted += 1
    return True


def retention_sweep(
    *, now: datetime | None = None, orphan_grace: timedelta = ORPHAN_GRACE
) -> SweepReport:
    """Run all four passes; returns what was removed. Safe to run concurrently and often."""
    now = now or timezone.now()
    report = SweepReport()
    for workspace in Workspace.objects.filter(retention_days__gt=0).only("id", "retention_days"):
        assert workspace.retention_days is not None
        cutoff = now - timedelta(days=workspace.retention_days)
        report.cutouts_deleted += _expire_cutouts(
            Cutout.objects.filter(workspace=workspace, created_at__lt=cutoff), report
        )
        _expire_jobs(
            Job.objects.filter(
                workspace=workspace,
                created_at__lt=cutoff,
                status__in=(Job.Status.DONE, Job.Status.FAILED, Job.Status.WAITING),
            ),
            report,
        )
    report.trash_purged += _expire_cutouts(
        Cutout.objects.filter(deleted_at__lt=now - UNDO_WINDOW), report
    )
    _remove_originals(report, now)
    _remove_orphans(now - orphan_grace, report)
    logger.info("retention sweep: %s", report.as_dict())
    return report


_CUTOUT_FILES = ("id", "original", "matte", "result", "prior")


def _version_files(cutout_ids: list[Any]) -> dict[Any, list[str]]:
    """The files of the cutouts' versions (guided refinement), by cutout id."""
    files: dict[Any, list[str]] = {}
    rows = CutoutVersion.objects.filter(cutout_id__in=cutout_ids)
    for cutout_id, matte, result in rows.values_list("cutout_id", "matte", "result"):
        files.setdefault(cutout_id, []).extend(name for name in (matte, result) if name)
    return files


def _expire_cutouts(queryset: Any, report: SweepReport) -> int:
    """Delete the files, then the rows, of ``queryset``; returns how many rows went."""
    gone = 0
    for chunk in _chunks(queryset.values_list(*_CUTOUT_FILES).iterator()):
        deletable = []
        versions = _version_files([row[0] for row in chunk])
        for cutout_id, *names in chunk:
            unique = list(dict.fromkeys([*names, *versions.get(cutout_id, [])]))
            if all(_delete_file(name, report) for name in unique):
                deletable.append(cutout_id)
        if deletable:
            Cutout.objects.filter(id__in=deletable).delete()
            gone += len(deletable)
    return gone


def _expire_jobs(queryset: Any, report: SweepReport) -> None:
    for chunk in _chunks(queryset.values_list("id", "result_zip").iterator()):
        deletable = []
        for job_id, zip_name in chunk:
            inputs = JobItem.objects.filter(job_id=job_id).exclude(input="")
            names = [zip_name, *inputs.values_list("input", flat=True)]
            if all(_delete_file(name, report) for name in names):
                deletable.append(job_id)
        if deletable:
            Job.objects.filter(id__in=deletable).delete()
            report.jobs_deleted += len(deletable)


def _remove_originals(report: SweepReport, now: datetime) -> None:
    """Originals (and the priors refining reads) of finished cutouts whose editing window is
    over, where the workspace does not keep originals for good."""
    finished = (Cutout.Status.SUCCEEDED, Cutout.Status.FAILED)
    window_over = Q(editable_until__isnull=True) | Q(editable_until__lte=now)
    cutouts = (
        Cutout.objects.filter(workspace__keep_originals=False, status__in=finished)
        .filter(window_over)
        .exclude(original="", prior="")
    )
    for chunk in _chunks(cutouts.values_list("id", "original", "prior").iterator()):
        done = [cid for cid, *names in chunk if all(_delete_file(n, report) for n in names)]
        report.originals_deleted += Cutout.objects.filter(id__in=done).update(original="", prior="")
    items = JobItem.objects.filter(
        job__workspace__keep_originals=False,
        status__in=(JobItem.Status.DONE, JobItem.Status.FAILED),
    ).exclude(input="")
    for chunk in _chunks(items.values_list("id", "input").iterator()):
        done = [iid for iid, name in chunk if _delete_file(name, report)]
        report.originals_deleted += JobItem.objects.filter(id__in=done).update(input="")


def _remove_orphans(cutoff: datetime, report: SweepReport) -> None:
    known = {str(pk) for pk in Workspace.objects.values_list("id", flat=True)}
    for ws_id in storage.storage_workspace_ids():
        objects = (
            obj
            for obj in storage.storage_walk(storage.workspace_prefix(ws_id))
            if obj.modified_at is not None and obj.modified_at < cutoff
        )
        for chunk in _chunks(objects):
            names = [obj.name for obj in chunk]
            if ws_id in known:
                referenced, unknown = _referenced(names)
            else:
                referenced, unknown = set(), set()
            report.unknown_kept += len(unknown)
            for name in names:
                if name in referenced or name in unknown:
                    continue
                if _delete_file(name, report):
                    report.orphans_deleted += 1


def _uuids(matches: Iterable[re.Match[str] | None], group: str = "id") -> set[uuid.UUID]:
    return {uuid.UUID(match.group(group)) for match in matches if match is not None}


def _referenced(names: list[str]) -> tuple[set[str], set[str]]:
    """Which of ``names`` a row points to, and which do not follow a layout we know (kept)."""
    cutout_matches = {name: _CUTOUT_KEY.match(name) for name in names}
    input_matches = {name: _INPUT_KEY.match(name) for name in names}
    job_matches = {name: None if input_matches[name] else _JOB_KEY.match(name) for name in names}
    unknown = {
        name
        for name in names
        if not (cutout_matches[name] or input_matches[name] or job_matches[name])
    }
    referenced: set[str] = set()
    cutout_ids = _uuids(cutout_matches.values())
    if cutout_ids:
        live: set[str] = set()
        for cid, *files in Cutout.objects.filter(id__in=cutout_ids).values_list(*_CUTOUT_FILES):
            live.add(str(cid))
            referenced.update(name for name in files if name)
        for names in _version_files(list(cutout_ids)).values():
            referenced.update(names)
        # Files derived from a live cutout (the library's thumb.webp) live and die with it.
        referenced.update(
            name
            for name, match in cutout_matches.items()
            if match is not None
            and match.group("id") in live
            and posixpath.basename(name).startswith(DERIVED_PREFIXES)
        )
    job_ids = _uuids(job_matches.values())
    if job_ids:
        referenced.update(
            name
            for name in Job.objects.filter(id__in=job_ids).values_list("result_zip", flat=True)
            if name
        )
    item_ids = _uuids(input_matches.values())
    if item_ids:
        referenced.update(
            name
            for name in JobItem.objects.filter(Q(id__in=item_ids)).values_list("input", flat=True)
            if name
        )
    return referenced, unknown
