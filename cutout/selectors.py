"""Reads of cutouts and jobs, always scoped to one workspace."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import ApiKey, Workspace
from cutout.models import Cutout, Job, JobItem


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def cutouts_for_workspace(workspace: Workspace) -> QuerySet[Cutout]:
    return Cutout.objects.filter(workspace=workspace)


def cutout_get(*, workspace: Workspace, cutout_id: Any) -> Cutout | None:
    """The workspace's cutout with that id; None for a missing, foreign or malformed id."""
    pk = _uuid(cutout_id)
    if pk is None:
        return None
    return Cutout.objects.filter(workspace=workspace, pk=pk).first()


def job_get(*, workspace: Workspace, job_id: Any) -> Job | None:
    pk = _uuid(job_id)
    if pk is None:
        return None
    return Job.objects.filter(workspace=workspace, pk=pk).first()


def job_items(job: Job) -> QuerySet[JobItem]:
    return JobItem.objects.filter(job=job).select_related("cutout").order_by("position")


def month_start(now: datetime | None = None) -> datetime:
    local = timezone.localtime(now or timezone.now())
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def usage_summary(
    *, workspace: Workspace, api_key: ApiKey | None = None, since: datetime | None = None
) -> dict[str, int]:
    """Cutouts made (succeeded / failed) and credits charged, optionally for one key or period."""
    rows = Cutout.objects.filter(workspace=workspace)
    if api_key is not None:
        rows = rows.filter(api_key=api_key)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    totals = rows.aggregate(
        succeeded=Count("id", filter=Q(status=Cutout.Status.SUCCEEDED)),
        failed=Count("id", filter=Q(status=Cutout.Status.FAILED)),
        credits=Sum("credits_charged"),
    )
    return {
        "cutouts": int(totals["succeeded"] or 0),
        "failed": int(totals["failed"] or 0),
        "credits_charged": int(totals["credits"] or 0),
    }
