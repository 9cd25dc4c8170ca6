"""Retention sweep: per-workspace retention days, stray originals, orphaned objects.

Runs on the local disk and on a fresh bucket of the S3 server.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from billing.models import LedgerEntry
from cutout.files import retention
from cutout.jobs.services import job_create
from cutout.models import Cutout, Job, JobItem
from tests.factories import grant, make_workspace
from tests.images import photos
from tests.storages import Backend

FAST = {"pipeline": "fast", "mode": "transparent", "format": "png"}


def _cutout(workspace: Any, *, days_old: float, original: bool = False) -> Cutout:
    cutout = Cutout.objects.create(
        workspace=workspace,
        status=Cutout.Status.SUCCEEDED,
        input_sha256=uuid.uuid4().hex * 2,
        created_at=timezone.now() - timedelta(days=days_old),
    )
    cutout.result.save("result.png", ContentFile(b"result"), save=False)
    cutout.matte.save("matte.png", ContentFile(b"matte"), save=False)
    if original:
        cutout.original.save("original.jpg", ContentFile(b"original"), save=False)
    cutout.save()
    return cutout


def _exists(name: Any) -> bool:
    return bool(name) and default_storage.exists(str(name))


@pytest.mark.django_db
def test_retention_days_remove_old_cutouts_and_jobs_only(
    backend: Backend, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = make_workspace(retention_days=30)
    keeper = make_workspace()  # no retention: keeps everything
    grant(workspace, 5)
    old = _cutout(workspace, days_old=31)
    recent = _cutout(workspace, days_old=29)
    forever = _cutout(keeper, days_old=400)
    with django_capture_on_commit_callbacks(execute=True):
        job = job_create(workspace=workspace, files=photos(1), options=FAST)
    job.refresh_from_db()
    assert job.status == Job.Status.DONE and _exists(job.result_zip)
    job_cutout = job.items.get().cutout
    assert job_cutout is not None
    Job.objects.filter(id=job.id).update(created_at=timezone.now() - timedelta(days=40))
    Cutout.objects.filter(id=job_cutout.id).update(created_at=timezone.now() - timedelta(days=40))
    debit = LedgerEntry.objects.get(workspace=workspace, kind=LedgerEntry.Kind.DEBIT)
    old_files = [old.result.name, old.matte.name, job.result_zip.name, job_cutout.result.name]

    report = retention.retention_sweep()

    assert report.cutouts_deleted == 2 and report.jobs_deleted == 1
    assert not Cutout.objects.filter(id__in=[old.id, job_cutout.id]).exists()
    assert not Job.objects.filter(id=job.id).exists()
    assert not JobItem.objects.filter(job_id=job.id).exists()
    assert not any(_exists(name) for name in old_files)
    for kept in (recent, forever):
        kept.refresh_from_db()
        assert _exists(kept.result.name) and _exists(kept.matte.name)
    # The ledger keeps its history; only the link to the deleted cutout is gone.
    debit.refresh_from_db()
    assert debit.cutout_id is None and debit.amount == -1


@pytest.mark.django_db
def test_stray_originals_go_unless_the_workspace_keeps_them(backend: Backend) -> None:
    private = make_workspace(keep_originals=False)
    keeping = make_workspace(keep_originals=True)
    stray = _cutout(private, days_old=0, original=True)
    kept = _cutout(keeping, days_old=0, original=True)
    stray_name = stray.original.name

    report = retention.retention_sweep()

    assert report.originals_deleted == 1
    stray.refresh_from_db()
    assert stray.original.name == "" and not _exists(stray_name)
    assert _exists(stray.result.name)
    kept.refresh_from_db()
    assert _exists(kept.original.name)


@pytest.mark.django_db
def test_orphans_are_removed_after_a_grace_period(backend: Backend) -> None:
    workspace = make_workspace()
    referenced = _cutout(workspace, days_old=0)
    orphan = default_storage.save(
        f"ws/{workspace.pk}/cutouts/{uuid.uuid4()}/result.png", ContentFile(b"orphan")
    )
    orphan_input = default_storage.save(
        f"ws/{workspace.pk}/jobs/{uuid.uuid4()}/inputs/{uuid.uuid4()}-a.png", ContentFile(b"x")
    )
    gone_workspace = default_storage.save(
        f"ws/999999/cutouts/{uuid.uuid4()}/result.png", ContentFile(b"deleted workspace")
    )
    unknown = default_storage.save(f"ws/{workspace.pk}/notes/readme.txt", ContentFile(b"?"))
    # The library's thumbnail of a live cutout is derived from it, not an orphan...
    thumb = default_storage.save(
        f"ws/{workspace.pk}/cutouts/{referenced.id}/thumb.webp", ContentFile(b"thumb")
    )
    # ...while any other file nobody points to in that folder is.
    stray = default_storage.save(
        f"ws/{workspace.pk}/cutouts/{referenced.id}/old-result.png", ContentFile(b"stray")
    )

    # Young objects may belong to work in progress: kept.
    report = retention.retention_sweep()
    assert report.orphans_deleted == 0
    assert all(_exists(name) for name in (orphan, orphan_input, gone_workspace, unknown))

    later = timezone.now() + retention.ORPHAN_GRACE + timedelta(minutes=5)
    report = retention.retention_sweep(now=later)

    assert report.orphans_deleted == 4
    assert not any(_exists(name) for name in (orphan, orphan_input, gone_workspace, stray))
    assert _exists(thumb)
    assert _exists(unknown) and report.unknown_kept == 1  # not a layout we write: left alone
    assert _exists(referenced.result.name) and _exists(referenced.matte.name)
