"""Accepting an invitation from the link in its mail (signed in, or after signing up)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts import errors, selectors, services
from accounts.middleware import switch_workspace
from accounts.models import Membership, User


def accept(request: HttpRequest, token: str, user: User) -> HttpResponse:
    try:
        membership = services.invitation_accept(token=token, user=user)
    except errors.AccountsError as exc:
        messages.error(request, exc.message)
        return redirect("invitation_accept", token=token)
    membership = Membership.objects.select_related("workspace").get(pk=membership.pk)
    switch_workspace(request, membership)
    messages.success(
        request,
        f"You joined {membership.workspace.name} as {membership.get_role_display().lower()}.",
    )
    return redirect("team")


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = selectors.invitation_from_token(token)
    except errors.InvitationInvalid as exc:
        status = 404 if type(exc) is errors.InvitationInvalid else 410
        return render(request, "accounts/invitation.html", {"error": exc.message}, status=status)
    user: User | None = request.user if request.user.is_authenticated else None
    wrong_user = user is not None and services.normalize_email(
        user.email
    ) != services.normalize_email(invitation.email)
    if request.method == "POST":
        if user is None:
            return redirect(f"{reverse('login')}?next={request.path}")
        return accept(request, token, user)
    already = (
        user is not None
        and Membership.objects.filter(workspace=invitation.workspace, user=user).exists()
    )
    context = {
        "invitation": invitation,
        "token": token,
        "wrong_user": wrong_user,
        "already_member": already,
        "account_exists": user is None
        and User.objects.filter(email__iexact=invitation.email).exists(),
    }
    return render(request, "accounts/invitation.html", context)
