"""Deleting from the library with an undo: cutouts are hidden at once (``deleted_at``), can be
brought back for :data:`~cutout.files.retention.UNDO_WINDOW`, and are purged, files and rows,
by the retention sweep after that (:func:`cutout.files.retention.retention_sweep`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Workspace
from cutout.files.retention import UNDO_WINDOW
from cutout.models import Cutout


def cutouts_trash(*, workspace: Workspace, cutouts: Iterable[Cutout]) -> list[str]:
    """Hide ``cutouts`` of ``workspace`` and their versions; returns the ids of those chosen.

    Nothing is removed yet: :func:`cutouts_restore` brings them back within the undo window.
    """
    ids = [str(c.pk) for c in cutouts if c.workspace_id == workspace.pk]
    if not ids:
        return []
    with transaction.atomic():
        Cutout.objects.filter(workspace=workspace, deleted_at__isnull=True).filter(
            Q(pk__in=ids) | Q(metadata__rerender_of__in=ids)
        ).update(deleted_at=timezone.now())
    return ids


def cutouts_restore(*, workspace: Workspace, ids: Iterable[Any]) -> int:
    """Bring back the cutouts ``ids`` (and their versions) deleted within the undo window;
    returns how many of ``ids`` came back (0 once the window has passed)."""
    wanted = [str(i) for i in ids]
    since = timezone.now() - UNDO_WINDOW
    with transaction.atomic():
        rows = Cutout.objects.filter(workspace=workspace, deleted_at__gte=since).filter(
            Q(pk__in=wanted) | Q(metadata__rerender_of__in=wanted)
        )
        back = rows.filter(pk__in=wanted).count()
        rows.update(deleted_at=None)
    return back
