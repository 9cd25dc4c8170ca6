"""The current workspace's team page: members and their roles, invitations, settings, leaving."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import errors, forms, permissions, selectors, services, throttle
from accounts.decorators import forbidden, manager_required, workspace_required
from accounts.middleware import MemberRequest, switch_workspace
from accounts.models import ApiKey, Invitation, Membership, Role, Workspace
from accounts.views.common import base_url, form_errors_to_messages, managed_object


@workspace_required
def team(request: HttpRequest) -> HttpResponse:
    req = cast(MemberRequest, request)
    actor = req.membership
    members = list(selectors.workspace_members(req.workspace))
    owners = sum(1 for m in members if m.role == Role.OWNER)
    rows = []
    for member in members:
        last_owner = member.role == Role.OWNER and owners <= 1
        rows.append(
            {
                "membership": member,
                "is_me": member.pk == actor.pk,
                "can_remove": permissions.can_remove(actor, member)
                and member.pk != actor.pk
                and not last_owner,
                "role_form": forms.RoleForm(
                    initial={"role": member.role},
                    actor_role=actor.role,
                    subject=member.user.email,
                    prefix=f"m{member.pk}",
                )
                if permissions.can_manage(actor.role)
                and member.pk != actor.pk
                and permissions.can_set_role(actor, member, Role.MEMBER)
                else None,
            }
        )
    can_manage = permissions.can_manage(actor.role)
    context: dict[str, Any] = {
        "rows": rows,
        "can_manage": can_manage,
        "is_personal": req.workspace.kind == Workspace.Kind.PERSONAL,
        "can_leave": not (actor.role == Role.OWNER and owners <= 1),
        "invitations": list(selectors.invitations_pending(req.workspace)) if can_manage else [],
        "invite_form": forms.InviteForm(actor_role=actor.role) if can_manage else None,
        "settings_form": forms.WorkspaceSettingsForm(
            initial={
                "name": req.workspace.name,
                "keep_originals": req.workspace.keep_originals,
                "retention_days": req.workspace.retention_days,
            }
        )
        if can_manage
        else None,
    }
    return render(request, "accounts/team.html", context)


@manager_required
@require_POST
def team_invite(request: HttpRequest) -> HttpResponse:
    req = cast(MemberRequest, request)
    form = forms.InviteForm(request.POST, actor_role=req.membership.role)
    if not form.is_valid():
        form_errors_to_messages(request, form)
        return redirect("team")
    inviter = str(req.user.pk)
    wait = throttle.wait_seconds("invite_user", inviter)
    if wait:  # invitations are mail to addresses of the sender's choosing: not a spam cannon
        messages.error(request, throttle.message(wait))
        return redirect("team")
    throttle.hit("invite_user", inviter)
    try:
        invitation = services.invitation_create(
            workspace=req.workspace,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            invited_by=req.user,
            base_url=base_url(request),
        )
    except errors.AccountsError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Invitation sent to {invitation.email}. The link works for 7 days."
        )
    return redirect("team")


@manager_required
@require_POST
def team_settings(request: HttpRequest) -> HttpResponse:
    req = cast(MemberRequest, request)
    form = forms.WorkspaceSettingsForm(request.POST)
    if not form.is_valid():
        form_errors_to_messages(request, form)
        return redirect("team")
    services.workspace_update(
        workspace=req.workspace,
        name=form.cleaned_data["name"],
        keep_originals=form.cleaned_data["keep_originals"],
        retention_days=form.cleaned_data["retention_days"],
        by=req.user,
    )
    messages.success(request, "Workspace settings saved.")
    return redirect("team")


@workspace_required
@require_POST
def team_member_role(request: HttpRequest, pk: int) -> HttpResponse:
    req = cast(MemberRequest, request)
    target = managed_object(
        req,
        Membership.objects.select_related("user"),
        pk,
        refusal="Only owners and admins can change roles.",
    )
    form = forms.RoleForm(request.POST, actor_role=req.membership.role, prefix=f"m{target.pk}")
    if not form.is_valid():
        messages.error(request, "Choose one of the roles you can give.")
        return redirect("team")
    try:
        services.membership_set_role(membership=target, role=form.cleaned_data["role"], by=req.user)
    except errors.NotAllowed as exc:
        return forbidden(request, exc.message)
    except errors.AccountsError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{target.user.email} is now {target.get_role_display()}.")
    return redirect("team")


@workspace_required
@require_POST
def team_member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    req = cast(MemberRequest, request)
    target = selectors.get_for_workspace(
        Membership.objects.select_related("user"), req.workspace, pk=pk
    )
    if target.pk == req.membership.pk:
        return team_leave(request)
    if not permissions.can_remove(req.membership, target):
        return forbidden(request, "Your role does not allow removing this member.")
    try:
        services.membership_remove(membership=target, by=req.user)
    except errors.NotAllowed as exc:
        return forbidden(request, exc.message)
    except errors.AccountsError as exc:
        messages.error(request, exc.message)
        return redirect("team")
    messages.success(request, f"Removed {target.user.email} from {req.workspace.name}.")
    live_keys = ApiKey.objects.filter(
        workspace=req.workspace, created_by=target.user, revoked_at__isnull=True
    ).count()
    if live_keys:
        messages.warning(
            request,
            f"{target.user.email} created {live_keys} API key(s) that still work. Revoke them "
            "on the API keys page if they should lose access.",
        )
    return redirect("team")


@workspace_required
@require_POST
def team_leave(request: HttpRequest) -> HttpResponse:
    req = cast(MemberRequest, request)
    name = req.workspace.name
    try:
        services.membership_remove(membership=req.membership, by=req.user)
    except errors.AccountsError as exc:
        messages.error(request, exc.message)
        return redirect("team")
    fallback = selectors.membership_current(req.user, None)
    if fallback is not None:
        switch_workspace(request, fallback)
    messages.success(request, f"You left {name}.")
    return redirect("workspaces")


@workspace_required
@require_POST
def invitation_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    req = cast(MemberRequest, request)
    invitation = managed_object(
        req,
        Invitation.objects.all(),
        pk,
        refusal="Only owners and admins can withdraw invitations.",
    )
    services.invitation_revoke(invitation=invitation, by=req.user)
    messages.success(request, f"Withdrew the invitation to {invitation.email}.")
    return redirect("team")
