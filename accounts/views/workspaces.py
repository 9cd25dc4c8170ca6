"""The user's workspaces: the list, making a team workspace, switching the current one."""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import forms, selectors, services
from accounts.decorators import workspace_required
from accounts.middleware import MemberRequest, switch_workspace
from accounts.models import Membership, User
from accounts.views.common import safe_next


@workspace_required
@require_http_methods(["GET", "POST"])
def workspaces(request: HttpRequest) -> HttpResponse:
    req = cast(MemberRequest, request)
    form = forms.WorkspaceCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        workspace = services.workspace_create(name=form.cleaned_data["name"], owner=req.user)
        membership = Membership.objects.select_related("workspace").get(
            workspace=workspace, user=req.user
        )
        switch_workspace(request, membership)
        messages.success(
            request,
            f"Created {workspace.name}. Next: add credits (from Billing) and invite your teammates.",
        )
        return redirect("team")
    memberships = selectors.memberships_for_user(req.user).annotate(
        member_count=Count("workspace__memberships")
    )
    return render(request, "accounts/workspaces.html", {"form": form, "memberships": memberships})


@workspace_required
@require_POST
def workspace_switch(request: HttpRequest) -> HttpResponse:
    req = cast(MemberRequest, request)
    membership = _membership_by_slug(req.user, request.POST.get("workspace", ""))
    switch_workspace(request, membership)
    messages.info(request, f"You are now working in {membership.workspace.name}.")
    return redirect(safe_next(request, settings.LOGIN_REDIRECT_URL))


def _membership_by_slug(user: User, slug: str) -> Membership:
    membership = (
        Membership.objects.select_related("workspace")
        .filter(user=user, workspace__slug=slug)
        .first()
    )
    if membership is None:
        raise Http404("No such workspace.")
    return membership
