"""The library: the workspace's cutouts, filtered and paged; deleting (one or several at once,
with an undo for a short while) and undoing it."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import Membership, Workspace
from cutout.cutouts import selectors
from cutout.cutouts.trash import cutouts_restore, cutouts_trash
from cutout.files.retention import UNDO_WINDOW
from cutout.models import Cutout
from cutout.web.common import current_workspace, workspace_page
from cutout.web.forms import LibraryFilterForm

logger = logging.getLogger(__name__)

PAGE_SIZE = 24
UNDO_SESSION_KEY = "library_undo"


def _member_choices(workspace: Workspace) -> list[tuple[str, str]]:
    rows = (
        Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by("user__email")
    )
    return [(str(m.user_id), m.user.get_full_name() or m.user.email) for m in rows]


@workspace_page
def library(request: HttpRequest) -> HttpResponse:
    workspace = current_workspace(request)
    if request.method == "POST":
        return _delete_chosen(request, workspace)
    filters = LibraryFilterForm(request.GET or None, members=_member_choices(workspace))
    data = filters.cleaned_data if filters.is_valid() else {}
    qs = selectors.library_cutouts(
        workspace,
        since=filters.since(),  # None unless the filters are valid
        style=data.get("mode") or "",
        member=data.get("member") or "",
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "cutout/library.html",
        {
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "filtered": any(request.GET.get(k) for k in ("date", "mode", "member")),
            # The same cutouts the page lists (versions live with theirs), unfiltered.
            "total": selectors.originals(selectors.cutouts_for_workspace(workspace)).count(),
            "undo_minutes": undo_minutes(),
            "undo": _undo_offer(request, workspace),
        },
    )


def _delete_chosen(request: HttpRequest, workspace: Workspace) -> HttpResponse:
    ids = [i for i in request.POST.getlist("cutout") if selectors.as_uuid(i)]
    chosen = list(selectors.cutouts_for_workspace(workspace).filter(pk__in=ids))
    if chosen:
        trash_with_undo(request, workspace, chosen)
    else:
        messages.info(request, "Select the cutouts to delete first.")
    return redirect(request.get_full_path())


def undo_minutes() -> int:
    return int(UNDO_WINDOW.total_seconds() // 60)


def trash_with_undo(request: HttpRequest, workspace: Workspace, chosen: list[Cutout]) -> None:
    """Delete ``chosen`` from the library; the library offers to undo it for a short while."""
    ids = cutouts_trash(workspace=workspace, cutouts=chosen)
    what = (chosen[0].input_name or "the cutout") if len(ids) == 1 else f"{len(ids)} cutouts"
    request.session[UNDO_SESSION_KEY] = {
        "workspace": workspace.pk,
        "ids": ids,
        "what": what,
        "count": len(ids),
        "until": (timezone.now() + UNDO_WINDOW).timestamp(),
    }
    logger.info("library delete: %d cutouts to the trash", len(ids))


def _undo_offer(request: HttpRequest, workspace: Workspace) -> dict[str, Any] | None:
    """The last delete, while it can still be undone: what went, and for how long."""
    undo = request.session.get(UNDO_SESSION_KEY)
    if not isinstance(undo, dict) or undo.get("workspace") != workspace.pk:
        return None
    left = float(undo.get("until", 0)) - timezone.now().timestamp()
    if left <= 0:
        request.session.pop(UNDO_SESSION_KEY, None)
        return None
    return {
        "what": undo.get("what", "cutouts"),
        "count": int(undo.get("count", 2)),
        "minutes": max(1, round(left / 60)),
    }


@workspace_page
@require_POST
def library_undo(request: HttpRequest) -> HttpResponse:
    """Bring back what the last delete removed, while the undo window lasts."""
    workspace = current_workspace(request)
    undo = request.session.pop(UNDO_SESSION_KEY, None) or {}
    back = 0
    if undo.get("workspace") == workspace.pk:
        back = cutouts_restore(workspace=workspace, ids=undo.get("ids") or [])
    if back:
        messages.success(request, f"Restored {back} cutout{'s' if back != 1 else ''}.")
    else:
        messages.warning(request, "Too late to undo: deleted cutouts are gone for good.")
    return redirect("library")
