"""The library: the workspace's cutouts, filtered and paged, and deleting several at once."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.models import Membership, Workspace
from cutout.cutouts import selectors
from cutout.cutouts.services import cutouts_delete
from cutout.web.common import current_workspace, workspace_page
from cutout.web.forms import LibraryFilterForm

logger = logging.getLogger(__name__)

PAGE_SIZE = 24


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
            "total": selectors.cutouts_for_workspace(workspace).count(),
        },
    )


def _delete_chosen(request: HttpRequest, workspace: Workspace) -> HttpResponse:
    ids = [i for i in request.POST.getlist("cutout") if selectors.as_uuid(i)]
    chosen = list(selectors.cutouts_for_workspace(workspace).filter(pk__in=ids))
    if chosen:
        count = cutouts_delete(workspace=workspace, cutouts=chosen)
        messages.success(request, f"Deleted {len(chosen)} cutout{'s' if len(chosen) != 1 else ''}.")
        logger.info("library delete: %d rows", count)
    else:
        messages.info(request, "Select the cutouts to delete first.")
    return redirect(request.get_full_path())
