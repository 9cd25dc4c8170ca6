"""Jobs end to end in this process: tasks run eagerly from on_commit, with the real u2netp model."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

import pytest
from django.core.files.storage import default_storage

from accounts.models import Role
from billing.errors import InsufficientCredits
from billing.models import LedgerEntry, Reservation
from cutout import queue
from cutout.jobs.processing import job_item_process
from cutout.jobs.selectors import job_progress
from cutout.jobs.services import job_create, job_options
from cutout.jobs.sweeps import jobs_requeue_stale
from cutout.models import Cutout, Job, JobItem
from tests.factories import add_member, balance_and_held, grant, make_workspace
from tests.images import photo, photos

FAST = {"pipeline": "fast", "mode": "transparent", "format": "png"}


def _create(workspace: Any, django_capture_on_commit_callbacks: Any, **kwargs: Any) -> Job:
    with django_capture_on_commit_callbacks(execute=True):
        job = job_create(workspace=workspace, options=kwargs.pop("options", FAST), **kwargs)
    job.refresh_from_db()
    return job


@pytest.mark.django_db
def test_batch_runs_every_item_and_charges_each_once(
    eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = make_workspace()
    user = add_member(workspace, Role.OWNER)
    grant(workspace, 10)
    job = _create(workspace, django_capture_on_commit_callbacks, files=photos(3), user=user)

    assert job.status == Job.Status.DONE
    progress = job_progress(job)
    assert (progress.total, progress.done, progress.failed, progress.remaining) == (3, 3, 0, 0)
    assert progress.percent == 100 and progress.finished
    items = list(job.items.order_by("position"))
    assert [item.name for item in items] == ["photo-00.png", "photo-01.png", "photo-02.png"]
    for item in items:
        assert item.status == JobItem.Status.DONE
        assert item.cutout is not None and item.cutout.status == Cutout.Status.SUCCEEDED
        assert str(item.cutout.result.name).startswith(f"ws/{workspace.pk}/")
        assert item.attempts == 1
        assert item.timings["total_ms"] > 0 and "cutout_ms" in item.timings
        # The item's input is deleted right after processing (the workspace keeps none); its
        # cutout keeps a copy for the editing window only (refining needs it).
        assert item.input.name == ""
        assert item.cutout.original.name != "" and item.cutout.editable_until is not None
    assert not default_storage.exists(f"ws/{workspace.pk}/jobs/{job.id}/inputs") or not any(
        default_storage.listdir(f"ws/{workspace.pk}/jobs/{job.id}/inputs")[1]
    )
    assert balance_and_held(workspace) == (7, 0)
    debits = LedgerEntry.objects.filter(workspace=workspace, kind=LedgerEntry.Kind.DEBIT)
    assert debits.count() == 3
    assert {entry.job_id for entry in debits} == {job.id}

    # The results ZIP has one PNG per input, named after it, and a manifest.
    assert str(job.result_zip.name).startswith(f"ws/{workspace.pk}/jobs/{job.id}/")
    with (
        default_storage.open(str(job.result_zip.name), "rb") as handle,
        zipfile.ZipFile(io.BytesIO(handle.read())) as zf,
    ):
        names = sorted(zf.namelist())
        assert names == ["manifest.csv", "photo-00.png", "photo-01.png", "photo-02.png"]
        assert zf.read("photo-01.png").startswith(b"\x89PNG")
        rows = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
        assert [row["status"] for row in rows] == ["done"] * 3
        assert rows[0]["result"] == "photo-00.png"


@pytest.mark.django_db
def test_bad_images_fail_alone_and_cost_nothing(
    eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = make_workspace()
    grant(workspace, 5)
    files = [
        ("good.png", photo(1)),
        ("notes.txt", b"this is not an image"),
        ("truncated.png", photo(2)[:200]),
    ]
    job = _create(workspace, django_capture_on_commit_callbacks, files=files)

    items = {item.name: item for item in job.items.all()}
    assert items["good.png"].status == JobItem.Status.DONE
    for name in ("notes.txt", "truncated.png"):
        assert items[name].status == JobItem.Status.FAILED
        assert items[name].error_code in {"invalid_image", "unsupported_format"}
        assert items[name].error_message
        assert items[name].attempts == 1  # bad images are not retried
        assert items[name].input.name == ""
    assert job.status == Job.Status.DONE  # a job with some results is done
    assert balance_and_held(workspace) == (4, 0)
    with (
        default_storage.open(str(job.result_zip.name), "rb") as handle,
        zipfile.ZipFile(io.BytesIO(handle.read())) as zf,
    ):
        assert sorted(zf.namelist()) == ["good.png", "manifest.csv"]
        rows = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
        assert {row["input"]: row["status"] for row in rows} == {
            "good.png": "done",
            "notes.txt": "failed",
            "truncated.png": "failed",
        }


@pytest.mark.django_db
def test_all_failed_job_is_failed(eager: None, django_capture_on_commit_callbacks: Any) -> None:
    workspace = make_workspace()
    grant(workspace, 5)
    job = _create(
        workspace, django_capture_on_commit_callbacks, files=[("a.png", b"nope"), ("b.png", b"")]
    )
    assert job.status == Job.Status.FAILED
    assert set(job.items.values_list("error_code", flat=True)) == {"invalid_image"}
    assert not job.result_zip
    assert balance_and_held(workspace) == (5, 0)


@pytest.mark.django_db
def test_not_enough_credits_refuses_the_batch_before_storing_anything(
    eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = make_workspace()
    grant(workspace, 2)
    with pytest.raises(InsufficientCredits) as caught:
        _create(workspace, django_capture_on_commit_callbacks, files=photos(3))
    assert caught.value.code == "insufficient_credits"
    assert caught.value.needed == 3 and caught.value.available == 2
    assert not Job.objects.filter(workspace=workspace).exists()
    assert not default_storage.exists(f"ws/{workspace.pk}")


@pytest.mark.django_db
def test_invalid_options_refuse_the_batch(django_capture_on_commit_callbacks: Any) -> None:
    from cutout.engine import InvalidOption

    workspace = make_workspace()
    grant(workspace, 5)
    with pytest.raises(InvalidOption):
        _create(
            workspace,
            django_capture_on_commit_callbacks,
            files=photos(1),
            options={"mode": "sparkles", "pipeline": "fast"},
        )
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_idempotency_key_returns_the_first_job(
    eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = make_workspace()
    grant(workspace, 5)
    first = _create(
        workspace, django_capture_on_commit_callbacks, files=photos(2), idempotency_key="batch-1"
    )
    again = _create(
        workspace, django_capture_on_commit_callbacks, files=photos(2), idempotency_key="batch-1"
    )
    assert again.id == first.id
    assert Job.objects.filter(workspace=workspace).count() == 1
    assert balance_and_held(workspace) == (3, 0)


@pytest.mark.django_db
def test_keep_originals_keeps_the_inputs(
    eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = make_workspace(keep_originals=True)
    grant(workspace, 5)
    data = photo(7)
    job = _create(workspace, django_capture_on_commit_callbacks, files=[("keep.png", data)])
    item = job.items.get()
    assert item.status == JobItem.Status.DONE
    assert item.input.name
    with default_storage.open(str(item.input.name), "rb") as handle:
        assert handle.read() == data


@pytest.mark.django_db
def test_duplicate_images_are_free_the_second_time(
    eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = make_workspace()
    grant(workspace, 5)
    same = photo(3)
    job = _create(
        workspace, django_capture_on_commit_callbacks, files=[("a.png", same), ("b.png", same)]
    )
    items = list(job.items.order_by("position"))
    assert [item.status for item in items] == [JobItem.Status.DONE] * 2
    assert [item.cutout.credits_charged for item in items if item.cutout] == [1, 0]
    assert balance_and_held(workspace) == (4, 0)


@pytest.mark.django_db
def test_zip_input_keeps_folders_and_skips_hidden_files(
    eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = make_workspace()
    grant(workspace, 5)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("shoes/", b"")
        zf.writestr("shoes/red.png", photo(11))
        zf.writestr("bags/blue.png", photo(12))
        zf.writestr(".DS_Store", b"junk")
        zf.writestr("__MACOSX/shoes/._red.png", b"junk")
    job = _create(workspace, django_capture_on_commit_callbacks, zip_file=buffer.getvalue())
    assert sorted(job.items.values_list("name", flat=True)) == ["bags/blue.png", "shoes/red.png"]
    with (
        default_storage.open(str(job.result_zip.name), "rb") as handle,
        zipfile.ZipFile(io.BytesIO(handle.read())) as zf,
    ):
        assert sorted(zf.namelist()) == ["bags/blue.png", "manifest.csv", "shoes/red.png"]


@pytest.mark.django_db
def test_an_oversized_file_fails_alone(
    eager: None, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.CUTOUT_MAX_UPLOAD_BYTES = 20_000
    workspace = make_workspace()
    grant(workspace, 5)
    big = photo(5, size=(400, 300))
    assert len(big) > 20_000
    job = _create(
        workspace,
        django_capture_on_commit_callbacks,
        files=[("big.png", big), ("ok.png", photo(6))],
    )
    items = {item.name: item for item in job.items.all()}
    assert items["big.png"].status == JobItem.Status.FAILED
    assert items["big.png"].error_code == "image_too_large"
    assert items["ok.png"].status == JobItem.Status.DONE
    assert balance_and_held(workspace) == (4, 0)


@pytest.mark.django_db
def test_enqueue_happens_only_after_commit(django_capture_on_commit_callbacks: Any) -> None:
    workspace = make_workspace()
    grant(workspace, 5)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = job_create(workspace=workspace, files=photos(2), options=FAST)
    assert len(callbacks) == 1
    assert job_progress(job).queued == 2


@pytest.mark.django_db
def test_a_redelivered_item_is_neither_redone_nor_recharged(
    eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = make_workspace()
    grant(workspace, 5)
    job = _create(workspace, django_capture_on_commit_callbacks, files=photos(1))
    item = job.items.get()
    cutout_id = item.cutout_id

    outcome = job_item_process(item_id=item.id)

    assert outcome.action == "skipped"
    item.refresh_from_db()
    assert item.cutout_id == cutout_id and item.attempts == 1
    assert Cutout.objects.filter(workspace=workspace).count() == 1
    assert balance_and_held(workspace) == (4, 0)


@pytest.mark.django_db
def test_an_interrupted_attempt_is_settled_and_redone_once(
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The state a worker killed mid-item leaves (running item, processing cutout, held credit)."""
    from django.utils import timezone

    from billing.services import credits_reserve

    workspace = make_workspace()
    grant(workspace, 5)
    with django_capture_on_commit_callbacks(execute=False):
        job = job_create(workspace=workspace, files=photos(1), options=FAST)
    item = job.items.get()
    JobItem.objects.filter(id=item.id).update(status=JobItem.Status.RUNNING, attempts=1)
    half = Cutout.objects.create(
        workspace=workspace,
        status=Cutout.Status.PROCESSING,
        input_sha256="0" * 64,
        idempotency_key=f"item:{item.id}:1",
        started_at=timezone.now(),
    )
    credits_reserve(
        workspace=workspace, idempotency_key=f"cutout:{half.pk}", cutout=half, job_item=item
    )
    assert balance_and_held(workspace) == (5, 1)

    outcome = job_item_process(item_id=item.id)

    assert outcome.action == "processed" and outcome.status == JobItem.Status.DONE
    item.refresh_from_db()
    half.refresh_from_db()
    assert item.attempts == 2 and item.cutout_id != half.id
    assert half.status == Cutout.Status.FAILED and half.error_code == "interrupted"
    assert Reservation.objects.get(cutout=half).status == Reservation.Status.RELEASED
    assert balance_and_held(workspace) == (4, 0)
    assert LedgerEntry.objects.filter(workspace=workspace, kind="debit").count() == 1


@pytest.mark.django_db
def test_a_finished_but_unrecorded_attempt_is_adopted(
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Killed after the cutout was made and charged, before the item was marked done."""
    from cutout.cutouts.services import cutout_create

    workspace = make_workspace()
    grant(workspace, 5)
    with django_capture_on_commit_callbacks(execute=False):
        job = job_create(workspace=workspace, files=photos(1), options=FAST)
    item = job.items.get()
    with default_storage.open(str(item.input.name)) as handle:
        data = handle.read()
    JobItem.objects.filter(id=item.id).update(status=JobItem.Status.RUNNING, attempts=1)
    made = cutout_create(
        workspace=workspace,
        data=data,
        options=job_options(FAST),
        source="batch",
        idempotency_key=f"item:{item.id}:1",
        job_item=item,
    )
    assert balance_and_held(workspace) == (4, 0)

    outcome = job_item_process(item_id=item.id)

    assert outcome.action == "adopted"
    item.refresh_from_db()
    assert item.status == JobItem.Status.DONE and item.cutout_id == made.id
    assert Cutout.objects.filter(workspace=workspace).count() == 1
    assert balance_and_held(workspace) == (4, 0)


@pytest.mark.django_db
def test_items_interrupted_too_often_give_up_without_charge(
    django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.CUTOUT_ITEM_MAX_ATTEMPTS = 2
    workspace = make_workspace()
    grant(workspace, 5)
    with django_capture_on_commit_callbacks(execute=False):
        job = job_create(workspace=workspace, files=photos(1), options=FAST)
    item = job.items.get()
    JobItem.objects.filter(id=item.id).update(status=JobItem.Status.RUNNING, attempts=2)

    outcome = job_item_process(item_id=item.id)

    assert outcome.status == JobItem.Status.FAILED and outcome.job_finished
    item.refresh_from_db()
    assert item.error_code == "too_many_attempts"
    assert balance_and_held(workspace) == (5, 0)


@pytest.mark.django_db
def test_an_item_over_its_time_limit_fails_without_charge(
    eager: None, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from celery.exceptions import SoftTimeLimitExceeded

    from cutout import engine

    def too_slow(*args: Any, **kwargs: Any) -> Any:
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(engine, "compute_matte", too_slow)
    workspace = make_workspace()
    grant(workspace, 5)
    job = _create(workspace, django_capture_on_commit_callbacks, files=photos(1))
    item = job.items.get()
    assert item.status == JobItem.Status.FAILED and item.error_code == "timeout"
    assert "time limit" in item.error_message and item.attempts == 1
    assert balance_and_held(workspace) == (5, 0)
    assert Reservation.objects.get(workspace=workspace).status == Reservation.Status.RELEASED


@pytest.mark.django_db
def test_stale_items_and_unclosed_jobs_are_queued_again(
    eager: None, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    workspace = make_workspace()
    grant(workspace, 5)
    with django_capture_on_commit_callbacks(execute=False):
        lost = job_create(workspace=workspace, files=photos(2), options=FAST)
    long_ago = timezone.now() - timedelta(hours=2)
    Job.objects.filter(id=lost.id).update(created_at=long_ago)
    first, second = lost.items.order_by("position")
    JobItem.objects.filter(id=first.id).update(status=JobItem.Status.RUNNING, started_at=long_ago)

    # While the broker still holds messages, queued items are only waiting their turn.
    monkeypatch.setattr(queue, "queue_is_empty", lambda: False)
    assert jobs_requeue_stale() == 1  # the running one whose worker is long gone
    assert JobItem.objects.get(id=first.id).status == JobItem.Status.DONE
    assert JobItem.objects.get(id=second.id).status == JobItem.Status.QUEUED

    monkeypatch.setattr(queue, "queue_is_empty", lambda: True)
    assert jobs_requeue_stale() == 1
    lost.refresh_from_db()
    assert lost.status == Job.Status.DONE and job_progress(lost).done == 2
    assert balance_and_held(workspace) == (3, 0)

    # A job whose items all finished but whose closing task was lost gets closed.
    with django_capture_on_commit_callbacks(execute=False):
        unclosed = job_create(workspace=workspace, files=[("x.png", b"bad")], options=FAST)
    JobItem.objects.filter(job=unclosed).update(status=JobItem.Status.FAILED)
    Job.objects.filter(id=unclosed.id).update(created_at=long_ago)
    jobs_requeue_stale()
    unclosed.refresh_from_db()
    assert unclosed.status == Job.Status.FAILED and unclosed.finished_at is not None


@pytest.mark.django_db
def test_uploaded_files_and_an_uploaded_zip_are_accepted(
    django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    """What the web app passes: Django's UploadedFile objects (read once, size-capped)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.CUTOUT_MAX_UPLOAD_BYTES = 50_000
    workspace = make_workspace()
    grant(workspace, 10)
    uploads = [
        SimpleUploadedFile("dir/a.png", photo(21), "image/png"),
        SimpleUploadedFile("huge.png", b"\0" * 60_000, "image/png"),
    ]
    with django_capture_on_commit_callbacks(execute=False):
        job = job_create(workspace=workspace, files=uploads, options=FAST)
    items = {item.name: item for item in job.items.all()}
    assert set(items) == {"a.png", "huge.png"}
    assert items["huge.png"].status == JobItem.Status.FAILED
    assert items["huge.png"].error_code == "image_too_large" and not items["huge.png"].input
    with default_storage.open(str(items["a.png"].input.name), "rb") as handle:
        assert handle.read() == photo(21)

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("x/b.png", photo(22))
    archive = SimpleUploadedFile("batch.zip", buffer.getvalue(), "application/zip")
    with django_capture_on_commit_callbacks(execute=False):
        zipped = job_create(workspace=workspace, zip_file=archive, options=FAST)
    assert list(zipped.items.values_list("name", flat=True)) == ["x/b.png"]
