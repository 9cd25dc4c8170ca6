"""Batches bigger than the credits: what runs, what waits for credits, and resuming it (issue 19).

Tasks run eagerly from on_commit, with the real u2netp model, as in ``test_jobs.py``.
"""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

import pytest
from django.core.files.storage import default_storage

from accounts.models import Role
from billing.errors import InsufficientCredits
from billing.models import LedgerEntry
from billing.services import credits_reserve
from cutout.jobs.selectors import job_progress
from cutout.jobs.services import job_create, job_resume
from cutout.jobs.sweeps import jobs_resume_waiting
from cutout.models import Job, JobItem, Source
from tests.factories import add_member, balance_and_held, grant, make_workspace
from tests.images import photos

FAST = {"pipeline": "fast", "mode": "transparent", "format": "png"}


def _create(workspace: Any, capture: Any, **kwargs: Any) -> Job:
    with capture(execute=True):
        job = job_create(workspace=workspace, options=FAST, **kwargs)
    job.refresh_from_db()
    return job


def _statuses(job: Job) -> list[str]:
    return list(job.items.order_by("position").values_list("status", flat=True))


@pytest.mark.django_db
def test_partial_runs_what_the_credits_cover_and_the_rest_waits(
    eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = make_workspace(credits=2)
    user = add_member(workspace, Role.OWNER)
    with pytest.raises(InsufficientCredits) as refused:  # all or nothing without partial
        job_create(workspace=workspace, files=photos(4), options=FAST, user=user)
    assert (refused.value.needed, refused.value.available) == (4, 2)
    assert not Job.objects.exists()

    job = _create(
        workspace,
        django_capture_on_commit_callbacks,
        files=photos(4),
        user=user,
        source=Source.WEB,
        partial=True,
    )
    assert _statuses(job) == ["done", "done", "waiting", "waiting"]
    assert job.status == Job.Status.WAITING
    progress = job_progress(job)
    assert (progress.done, progress.waiting, progress.remaining) == (2, 2, 2)
    assert progress.finished  # nothing in line: the job pauses
    assert balance_and_held(workspace) == (0, 0)
    waiting = list(job.items.filter(status=JobItem.Status.WAITING))
    assert all(item.input and default_storage.exists(str(item.input.name)) for item in waiting)
    # What is done so far is in the ZIP already.
    with default_storage.open(str(job.result_zip.name)) as handle, zipfile.ZipFile(handle) as zf:
        rows = list(csv.reader(io.StringIO(zf.read("manifest.csv").decode())))
    assert [row[2] for row in rows[1:]] == ["done", "done", "waiting", "waiting"]

    # Nothing to resume with: nothing happens.
    assert job_resume(job_id=job.pk) == 0
    # One credit: one item runs; the job pauses again. Then the rest.
    grant(workspace, 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_resume_waiting() == 1
    job.refresh_from_db()
    assert _statuses(job) == ["done", "done", "done", "waiting"] and job.status == "waiting"
    grant(workspace, 5)
    with django_capture_on_commit_callbacks(execute=True):
        assert job_resume(job_id=job.pk) == 1
    job.refresh_from_db()
    assert _statuses(job) == ["done"] * 4 and job.status == Job.Status.DONE
    assert balance_and_held(workspace) == (4, 0)  # 2 + 1 + 5 granted, 4 used
    assert LedgerEntry.objects.filter(workspace=workspace, kind="debit", job=job).count() == 4
    assert all(item.attempts == 1 for item in job.items.all())  # waiting used no attempt
    assert job_resume(job_id=job.pk) == 0  # closed


@pytest.mark.django_db
def test_with_no_credit_at_all_partial_refuses_too(eager: None) -> None:
    workspace = make_workspace()
    with pytest.raises(InsufficientCredits):
        job_create(workspace=workspace, files=photos(2), options=FAST, partial=True)
    assert not Job.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("source", "expected"), [(Source.WEB, "waiting"), (Source.API, "failed")])
def test_credits_spent_elsewhere_send_a_web_item_back_to_waiting_not_to_failed(
    eager: None,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    expected: str,
) -> None:
    from cutout.jobs.processing import job_item_process
    from cutout.jobs.services import job_finish

    workspace = make_workspace(credits=2)
    monkeypatch.setattr("cutout.jobs.services.job_enqueue", lambda *, job_id, only=None: 0)
    job = _create(workspace, django_capture_on_commit_callbacks, files=photos(2), source=source)
    monkeypatch.undo()
    # Another upload takes a credit while the batch waits in line.
    credits_reserve(workspace=workspace, amount=1, idempotency_key=f"elsewhere-{source}")
    outcomes = [job_item_process(item_id=i.pk) for i in job.items.order_by("position")]
    job_finish(job_id=job.pk)
    job.refresh_from_db()
    assert [o.status for o in outcomes] == ["done", expected]
    assert job.status == (Job.Status.WAITING if expected == "waiting" else Job.Status.DONE)


@pytest.mark.django_db
def test_resume_leaves_credits_for_what_is_already_in_line(
    eager: None, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = make_workspace(credits=1)
    paused = _create(
        workspace,
        django_capture_on_commit_callbacks,
        files=photos(3),
        source=Source.WEB,
        partial=True,
    )
    assert _statuses(paused) == ["done", "waiting", "waiting"]
    grant(workspace, 2)
    monkeypatch.setattr("cutout.jobs.services.job_enqueue", lambda *, job_id, only=None: 0)
    other = _create(workspace, django_capture_on_commit_callbacks, files=photos(1, start=10))
    assert _statuses(other) == ["queued"]  # will need one of the two credits
    assert job_resume(job_id=paused.pk) == 1
