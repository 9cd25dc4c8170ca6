"""Reads of cutouts, always scoped to one workspace."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import ApiKey, Workspace
from cutout.models import Cutout


def as_uuid(value: Any) -> uuid.UUID | None:
    """``value`` as a UUID; None when it is not one (an id from a URL or a form)."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def cutouts_for_workspace(workspace: Workspace) -> QuerySet[Cutout]:
    """The workspace's cutouts, less those deleted from the library (see cutouts.trash)."""
    return Cutout.objects.filter(workspace=workspace, deleted_at__isnull=True)


def originals(qs: QuerySet[Cutout]) -> QuerySet[Cutout]:
    """Cutouts made from an upload (re-renders are shown with the cutout they came from)."""
    return qs.exclude(metadata__has_key="rerender_of")


# The library's style filters, in the page's words (see cutout.web.forms.STYLE_CHOICES).
_WHITE = ["#ffffff", "#fff", "white"]
STYLE_FILTERS: dict[str, Q] = {
    "transparent": Q(options__mode="transparent") & ~Q(options__crop=True),
    "mask": Q(options__mode="mask"),
    "white": Q(options__mode="background", options__bg_color__in=_WHITE),
    "color": Q(options__mode="background") & ~Q(options__bg_color__in=_WHITE),
    "crop": Q(options__mode="transparent", options__crop=True),
    "shadow": Q(options__mode="shadow"),
}


def library_cutouts(
    workspace: Workspace, *, since: datetime | None = None, style: str = "", member: str = ""
) -> QuerySet[Cutout]:
    """The library's cutouts (made from uploads), newest first, with who made them.

    ``style`` is one of :data:`STYLE_FILTERS`; ``member`` a user id (as the filter form gives
    it), or ``"api"`` for what API keys made.
    """
    qs = originals(cutouts_for_workspace(workspace)).select_related("created_by", "api_key")
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if style in STYLE_FILTERS:
        qs = qs.filter(STYLE_FILTERS[style])
    if member == "api":
        qs = qs.filter(api_key__isnull=False)
    elif member:
        qs = qs.filter(created_by_id=int(member))
    return qs.order_by("-created_at")


def cutout_get(*, workspace: Workspace, cutout_id: Any) -> Cutout | None:
    """The workspace's cutout with that id; None for a missing, foreign or malformed id."""
    pk = as_uuid(cutout_id)
    if pk is None:
        return None
    return cutouts_for_workspace(workspace).filter(pk=pk).first()


def cutout_versions(root: Cutout, *, limit: int = 24) -> list[Cutout]:
    """``root`` and the finished versions re-rendered from it, oldest first."""
    return list(
        cutouts_for_workspace(root.workspace)
        .filter(Q(pk=root.pk) | Q(metadata__rerender_of=str(root.pk)))
        .filter(status=Cutout.Status.SUCCEEDED)
        .order_by("created_at")[:limit]
    )


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
