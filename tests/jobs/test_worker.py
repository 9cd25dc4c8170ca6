"""Batches on real ``celery -A cutout worker`` processes, Redis, PostgreSQL, and each storage.

Each test runs twice: on the local disk and on a fresh bucket of the S3 server. Items are small
images through the fast pipeline (u2netp). The test process creates the job exactly as the web app
and the API do (``job_create``, tasks queued on commit); the workers do the rest.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.db.models import Count

from billing.models import LedgerEntry, Reservation
from cutout.jobs.selectors import UNFINISHED, job_progress
from cutout.jobs.services import job_create
from cutout.models import Cutout, Job, JobItem
from tests.factories import balance_and_held, grant, make_workspace
from tests.images import photos
from tests.jobs.conftest import Worker, wait_for
from tests.storages import Backend

pytestmark = [
    pytest.mark.worker,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

FAST = {"pipeline": "fast", "mode": "transparent", "format": "png"}
START_TIMEOUT = 120  # a worker's start: Django, onnxruntime, the model


def _done(job: Job) -> int:
    return JobItem.objects.filter(job=job, status=JobItem.Status.DONE).count()


def _finished(job: Job) -> bool:
    job.refresh_from_db()
    return job.status in (Job.Status.DONE, Job.Status.FAILED)


def _wait_finished(job: Job, worker: Worker, timeout: float) -> None:
    """Wait for every item to finish, then for the job to be closed (a ZIP, its status)."""
    unfinished = JobItem.objects.filter(job=job, status__in=UNFINISHED)
    try:
        wait_for(lambda: not unfinished.exists(), timeout=timeout, interval=0.5, what="the items")
        wait_for(lambda: _finished(job), timeout=60, interval=0.5, what="the job to close")
    except AssertionError as exc:
        pytest.fail(f"{exc}: {job_progress(job)}\n{worker.logs(tail=6000)}")


def _assert_charged_once_each(job: Job, workspace: Any) -> None:
    items = list(JobItem.objects.filter(job=job).select_related("cutout"))
    assert all(item.status == JobItem.Status.DONE for item in items), [
        (item.name, item.status, item.error_code, item.error_message) for item in items
    ]
    # One result per item, none shared, each charged one credit.
    cutout_ids = [item.cutout_id for item in items]
    assert None not in cutout_ids and len(set(cutout_ids)) == len(items)
    assert all(item.cutout is not None and item.cutout.credits_charged == 1 for item in items)
    succeeded = Cutout.objects.filter(workspace=workspace, status=Cutout.Status.SUCCEEDED)
    assert succeeded.count() == len(items)
    # Exactly one debit per item in the ledger, tied to its cutout, and no credit left held.
    debits = LedgerEntry.objects.filter(workspace=workspace, kind=LedgerEntry.Kind.DEBIT)
    assert debits.count() == len(items)
    per_cutout = debits.values("cutout_id").annotate(n=Count("id"))
    assert {row["cutout_id"] for row in per_cutout} == set(cutout_ids)
    assert all(row["n"] == 1 for row in per_cutout)
    captured = Reservation.objects.filter(workspace=workspace, status=Reservation.Status.CAPTURED)
    assert captured.count() == len(items)
    assert not Reservation.objects.filter(workspace=workspace, status=Reservation.Status.HELD)
    for item in items:
        assert item.cutout is not None
        assert default_storage.exists(str(item.cutout.result.name))


def test_a_batch_of_20_completes_with_20_charges(backend: Backend, worker: Worker) -> None:
    workspace = make_workspace()
    grant(workspace, 25)
    worker.start()
    job = job_create(workspace=workspace, files=photos(20), options=FAST)

    _wait_finished(job, worker, START_TIMEOUT + 240)

    assert job.status == Job.Status.DONE
    assert job_progress(job).done == 20
    _assert_charged_once_each(job, workspace)
    assert balance_and_held(workspace) == (5, 0)
    assert default_storage.exists(str(job.result_zip.name))
    # Originals were deleted right after processing.
    assert not JobItem.objects.filter(job=job).exclude(input="").exists()
    # The worker's pool process loaded its model once, when it started, not per task.
    assert worker.logs().count("preloaded models: u2netp") == 1


def test_sigkill_mid_batch_then_another_worker_does_every_item_exactly_once(
    backend: Backend, worker: Worker
) -> None:
    workspace = make_workspace()
    grant(workspace, 25)
    first = worker.start()
    job = job_create(workspace=workspace, files=photos(20, start=100), options=FAST)

    # Kill while an item is being processed, after some are done.
    def mid_item() -> bool:
        done = _done(job)
        running = JobItem.objects.filter(job=job, status=JobItem.Status.RUNNING).exists()
        return 3 <= done < 18 and running

    try:
        wait_for(
            mid_item, timeout=START_TIMEOUT + 120, interval=0.02, what="the batch to be under way"
        )
    except AssertionError:
        pytest.fail(f"{job_progress(job)}\n{worker.logs(tail=6000)}")
    worker.kill(first)
    killed_at = time.monotonic()
    progress = job_progress(job)
    assert progress.done < 20, progress
    interrupted = JobItem.objects.filter(job=job, status=JobItem.Status.RUNNING).first()

    # The dead worker's unacknowledged task comes back once the visibility timeout (30 s here)
    # has passed; a worker started after that picks it up at once, with the rest of the queue.
    time.sleep(max(0.0, 31 - (time.monotonic() - killed_at)))
    worker.start()
    _wait_finished(job, worker, START_TIMEOUT + 240)

    assert job.status == Job.Status.DONE
    _assert_charged_once_each(job, workspace)
    assert balance_and_held(workspace) == (5, 0)
    if interrupted is not None:  # (almost always: the kill lands while an item runs)
        interrupted.refresh_from_db()
        assert interrupted.status == JobItem.Status.DONE and interrupted.attempts >= 2


def test_a_storage_write_failure_fails_the_item_cleanly_and_releases_its_credit(
    backend: Backend, worker: Worker
) -> None:
    workspace = make_workspace()
    grant(workspace, 5)
    worker.start(extra_env={"CUTOUT_TEST_FAIL_WRITES": "1", "CUTOUT_ITEM_MAX_RETRIES": "2"})
    job = job_create(workspace=workspace, files=photos(2, start=200), options=FAST)

    _wait_finished(job, worker, START_TIMEOUT + 120)

    assert job.status == Job.Status.FAILED
    for item in JobItem.objects.filter(job=job):
        assert item.status == JobItem.Status.FAILED
        assert item.error_code == "storage_error"
        assert "not charged" in item.error_message
        assert item.cutout_id is None
        assert item.attempts == 3  # the first try and two retries with backoff
        assert item.input.name == ""
    # Nothing charged, nothing held: every attempt's reservation was released.
    assert balance_and_held(workspace) == (5, 0)
    assert not LedgerEntry.objects.filter(workspace=workspace, kind=LedgerEntry.Kind.DEBIT)
    reservations = Reservation.objects.filter(workspace=workspace)
    assert reservations.count() == 6
    assert set(reservations.values_list("status", flat=True)) == {Reservation.Status.RELEASED}
    failed = Cutout.objects.filter(workspace=workspace)
    assert set(failed.values_list("status", flat=True)) == {Cutout.Status.FAILED}
    # And nothing half-written stays behind in storage (the mattes were removed too).
    for cutout in failed:
        assert not default_storage.exists(f"ws/{workspace.pk}/cutouts/{cutout.pk}/matte.png")
