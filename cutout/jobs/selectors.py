"""Reads of jobs and their items: progress, one job, a workspace's jobs. Always by workspace
where a person asks; by id where a worker asks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from accounts.models import Workspace
from cutout.cutouts.selectors import as_uuid
from cutout.models import Job, JobItem

UNFINISHED = (JobItem.Status.QUEUED, JobItem.Status.RUNNING)
# In an item's timings: its attempt count when an operator ran it again (jobs.services).
RERUN_BASE = "rerun_after_attempts"


@dataclass(frozen=True)
class JobProgress:
    total: int
    queued: int
    running: int
    done: int
    failed: int
    waiting: int = 0  # not run for want of credits (see cutout.jobs.services.job_resume)

    @property
    def remaining(self) -> int:
        """Items still to be made: in line, being made, or waiting for credits."""
        return self.queued + self.running + self.waiting

    @property
    def finished(self) -> bool:
        """Nothing in line or being made (items waiting for credits wait for a resume)."""
        return self.queued + self.running == 0

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
            "waiting": self.waiting,
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
        waiting=Count("id", filter=Q(status=S.WAITING)),
    )
    return JobProgress(**{key: int(value or 0) for key, value in counts.items()})


def job_get(*, workspace: Workspace, job_id: Any) -> Job | None:
    """The workspace's job with that id; None for a missing, foreign or malformed id."""
    pk = as_uuid(job_id)
    if pk is None:
        return None
    return Job.objects.filter(workspace=workspace, pk=pk).first()


def job_items(job: Job) -> QuerySet[JobItem]:
    """The job's items in order, each with its cutout and the cutout's workspace (which signed
    URLs check): one query for the lot."""
    return JobItem.objects.filter(job=job).select_related("cutout__workspace").order_by("position")


def jobs_for_workspace(workspace: Workspace) -> QuerySet[Job]:
    """The workspace's jobs, newest first, with their item counts (``total``, ``done``,
    ``failed``, ``waiting``) and who made them: one query for a page of them."""
    S = JobItem.Status
    return (
        Job.objects.filter(workspace=workspace)
        .select_related("created_by", "api_key")
        .annotate(
            total=Count("items"),
            done=Count("items", filter=Q(items__status=S.DONE)),
            failed=Count("items", filter=Q(items__status=S.FAILED)),
            waiting=Count("items", filter=Q(items__status=S.WAITING)),
        )
        .order_by("-created_at")
    )


def jobs_waiting(workspace: Workspace) -> QuerySet[Job]:
    """The workspace's jobs with items waiting for credits, oldest first."""
    return (
        Job.objects.filter(workspace=workspace, items__status=JobItem.Status.WAITING)
        .distinct()
        .order_by("created_at")
    )


def items_in_line(workspace: Workspace) -> int:
    """Items of the workspace's jobs queued but not yet started: each will need a credit."""
    return JobItem.objects.filter(job__workspace=workspace, status=JobItem.Status.QUEUED).count()
