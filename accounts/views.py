"""Account pages: sign-up, email verification, workspaces, team, invitations, API keys.

Views are thin: they validate forms, call ``accounts.services`` and turn ``AccountsError`` into a
message. Objects in URLs are looked up with ``get_for_workspace`` (another workspace's object is a
404) before any role check (a member without the role gets a 403 page).
"""

from __future__ import annotations

from typing import Any, cast

from django import forms as django_forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import Count, F
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from accounts import errors, forms, permissions, selectors, services, throttle
from accounts.decorators import manager_required, workspace_required
from accounts.middleware import MemberRequest, switch_workspace
from accounts.models import ApiKey, Invitation, Membership, Role, User, Workspace


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _form_errors_to_messages(request: HttpRequest, form: django_forms.Form) -> None:
    for field_errors in form.errors.as_data().values():
        for error in field_errors:
            for message in error.messages:
                messages.error(request, message)


def _forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "accounts/forbidden.html", {"message": message}, status=403)


def _throttled(
    request: HttpRequest, template: str | list[str], context: dict[str, Any], wait: int
) -> HttpResponse:
    """The form page again, saying to wait: 429 with Retry-After."""
    messages.error(request, throttle.message(wait))
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(wait)
    return response


# --- sign-in and password reset (Django's views, throttled) -----------------------------------


class LoginView(auth_views.LoginView):
    """Django's login; failed attempts are counted per address and per client."""

    authentication_form = forms.EmailAuthenticationForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        email = services.normalize_email(request.POST.get("username", ""))
        wait = max(
            throttle.wait_seconds("login_email", email),
            throttle.wait_seconds("login_ip", throttle.client_ip(request)),
        )
        if wait:
            # The password is not even checked: guessing gets no answer while throttled.
            form = self.authentication_form(request, initial={"username": email})
            context = self.get_context_data(form=form)
            return _throttled(request, self.get_template_names(), context, wait)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        throttle.hit("login_email", services.normalize_email(form.data.get("username", "")))
        throttle.hit("login_ip", throttle.client_ip(self.request))
        return super().form_invalid(form)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset form; reset mails are limited per address and per client."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        ip = throttle.client_ip(request)
        wait = throttle.wait_seconds("reset_ip", ip)
        if wait:
            return _throttled(request, self.get_template_names(), self.get_context_data(), wait)
        throttle.hit("reset_ip", ip)
        email = services.normalize_email(request.POST.get("email", ""))
        if throttle.wait_seconds("reset_email", email):
            # Answered as if sent: the page tells neither whether the address has an account
            # nor that its mailbox is being flooded; no more mail goes out for a while.
            return HttpResponseRedirect(self.get_success_url())
        throttle.hit("reset_email", email)
        return super().post(request, *args, **kwargs)


# --- sign-up and email verification -----------------------------------------------------------


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    token = request.POST.get("invitation") or request.GET.get("invitation") or ""
    invitation: Invitation | None = None
    invitation_error = ""
    if token:
        try:
            invitation = selectors.invitation_from_token(token)
        except errors.InvitationInvalid as exc:
            invitation_error = exc.message
    initial = {"email": invitation.email} if invitation else {}
    context: dict[str, Any] = {
        "invitation": invitation,
        "invitation_token": token if invitation else "",
        "invitation_error": invitation_error,
        "next": request.GET.get("next", ""),
    }
    ip = throttle.client_ip(request)
    wait = throttle.wait_seconds("signup_ip", ip) if request.method == "POST" else 0
    if wait:
        form = forms.SignupForm(initial={**initial, "email": request.POST.get("email", "")})
        return _throttled(request, "accounts/signup.html", {**context, "form": form}, wait)
    form = forms.SignupForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        invited = invitation is not None and email == services.normalize_email(invitation.email)
        try:
            user = services.user_create(
                email=email, password=form.cleaned_data["password1"], verified=invited
            )
        except errors.EmailTaken as exc:
            form.add_error("email", exc.message)
        else:
            throttle.hit("signup_ip", ip)  # accounts made (each gets trial credits), not tries
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            if invited:
                return _accept(request, token, user)
            try:
                services.email_verification_send(user=user, base_url=_base_url(request))
            except errors.EmailNotSent:
                messages.success(request, "Welcome to Cutout!")
                messages.warning(
                    request,
                    "We could not send the confirmation email; ask for a new one from your "
                    "account page.",
                )
            else:
                messages.success(
                    request,
                    f"Welcome to Cutout! We sent a link to {user.email} to confirm your address.",
                )
            if invitation is not None:
                messages.warning(
                    request,
                    f"The invitation was for {invitation.email}, so you have not joined "
                    f"{invitation.workspace.name}.",
                )
            return redirect(_safe_next(request, settings.LOGIN_REDIRECT_URL))
    return render(request, "accounts/signup.html", {**context, "form": form})


@require_http_methods(["GET", "POST"])
def verify_email(request: HttpRequest, token: str = "") -> HttpResponse:
    if token:
        try:
            user = services.email_verify(token=token)
        except errors.VerificationInvalid as exc:
            return render(request, "accounts/verify_email.html", {"error": exc.message}, status=400)
        messages.success(request, f"Thanks, {user.email} is confirmed.")
        return redirect("account" if request.user.is_authenticated else "login")
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next={request.path}")
    user = request.user
    if request.method == "POST" and not user.email_verified:
        try:
            services.email_verification_send(user=user, base_url=_base_url(request))
        except errors.EmailNotSent as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"We sent a new confirmation link to {user.email}.")
        return redirect(_safe_next(request, reverse("verify_email")))
    return render(request, "accounts/verify_email.html", {"next": request.GET.get("next", "")})


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/account.html")


# --- workspaces -------------------------------------------------------------------------------


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
        messages.success(request, f"Created {workspace.name}. Invite your teammates below.")
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
    return redirect(_safe_next(request, settings.LOGIN_REDIRECT_URL))


def _membership_by_slug(user: User, slug: str) -> Membership:
    membership = (
        Membership.objects.select_related("workspace")
        .filter(user=user, workspace__slug=slug)
        .first()
    )
    if membership is None:
        raise Http404("No such workspace.")
    return membership


# --- team: members, invitations, settings -----------------------------------------------------


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
        _form_errors_to_messages(request, form)
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
            base_url=_base_url(request),
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
        _form_errors_to_messages(request, form)
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
    target = selectors.get_for_workspace(
        Membership.objects.select_related("user"), req.workspace, pk=pk
    )
    if not permissions.can_manage(req.membership.role):
        return _forbidden(request, "Only owners and admins can change roles.")
    form = forms.RoleForm(request.POST, actor_role=req.membership.role, prefix=f"m{target.pk}")
    if not form.is_valid():
        messages.error(request, "Choose one of the roles you can give.")
        return redirect("team")
    try:
        services.membership_set_role(membership=target, role=form.cleaned_data["role"], by=req.user)
    except errors.NotAllowed as exc:
        return _forbidden(request, exc.message)
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
        return _forbidden(request, "Your role does not allow removing this member.")
    try:
        services.membership_remove(membership=target, by=req.user)
    except errors.NotAllowed as exc:
        return _forbidden(request, exc.message)
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
    invitation = selectors.get_for_workspace(Invitation.objects.all(), req.workspace, pk=pk)
    if not permissions.can_manage(req.membership.role):
        return _forbidden(request, "Only owners and admins can withdraw invitations.")
    services.invitation_revoke(invitation=invitation, by=req.user)
    messages.success(request, f"Withdrew the invitation to {invitation.email}.")
    return redirect("team")


# --- accepting an invitation ------------------------------------------------------------------


def _accept(request: HttpRequest, token: str, user: User) -> HttpResponse:
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
        return _accept(request, token, user)
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


# --- API keys ---------------------------------------------------------------------------------


@manager_required
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    req = cast(MemberRequest, request)
    form = forms.ApiKeyForm(request.POST or None)
    new_secret = ""
    new_key: ApiKey | None = None
    if request.method == "POST" and form.is_valid():
        new_key, new_secret = services.api_key_create(
            workspace=req.workspace,
            name=form.cleaned_data["name"],
            created_by=req.user,
            monthly_cap=form.cleaned_data["monthly_cap"],
        )
        form = forms.ApiKeyForm()
    keys = selectors.api_keys_for_workspace(req.workspace).order_by(
        F("revoked_at").asc(nulls_first=True), "-created_at"
    )
    response = render(
        request,
        "accounts/api_keys.html",
        {"form": form, "keys": keys, "new_key": new_key, "new_secret": new_secret},
    )
    if new_secret:
        response["Cache-Control"] = "no-store"
    return response


@workspace_required
@require_POST
def api_key_update(request: HttpRequest, pk: int) -> HttpResponse:
    req = cast(MemberRequest, request)
    key = selectors.get_for_workspace(
        ApiKey.objects.select_related("workspace"), req.workspace, pk=pk
    )
    if not permissions.can_manage(req.membership.role):
        return _forbidden(request, "Only owners and admins can change API keys.")
    form = forms.ApiKeyForm(request.POST, prefix=f"k{key.pk}")
    if not form.is_valid():
        messages.error(request, "The monthly cap must be a whole number of credits, or empty.")
        return redirect("api_keys")
    services.api_key_update(
        api_key=key,
        name=form.cleaned_data["name"],
        monthly_cap=form.cleaned_data["monthly_cap"],
        by=req.user,
    )
    messages.success(request, f"Saved {key.name}.")
    return redirect("api_keys")


@workspace_required
@require_POST
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    req = cast(MemberRequest, request)
    key = selectors.get_for_workspace(
        ApiKey.objects.select_related("workspace"), req.workspace, pk=pk
    )
    if not permissions.can_manage(req.membership.role):
        return _forbidden(request, "Only owners and admins can revoke API keys.")
    services.api_key_revoke(api_key=key, by=req.user)
    messages.success(request, f"Revoked {key.name}. It stops working immediately.")
    return HttpResponseRedirect(reverse("api_keys"))
