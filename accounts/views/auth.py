"""Signing up, logging in, password reset, email verification and the account page.

Log-in, password-reset mails and sign-ups are throttled per address and per client
(:mod:`accounts.throttle`). A sign-up from an invitation link joins the workspace at once.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts import errors, forms, selectors, services, throttle
from accounts.models import Invitation, User
from accounts.views import invitations
from accounts.views.common import base_url, safe_next, throttled


class LoginView(auth_views.LoginView):
    """Django's login; failed attempts are counted per address, per client and per both.

    Only a client that is itself throttled is refused: others are checked as usual, so the right
    password gets in even while someone else guesses at the same address
    (:func:`accounts.throttle.login_wait`).
    """

    authentication_form = forms.EmailAuthenticationForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        email = services.normalize_email(request.POST.get("username", ""))
        wait = throttle.login_wait(email, throttle.client_ip(request))
        if wait:
            # The password is not even checked: guessing gets no answer while throttled.
            form = self.authentication_form(request, initial={"username": email})
            context = self.get_context_data(form=form)
            return throttled(request, self.get_template_names(), context, wait)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        email = services.normalize_email(form.data.get("username", ""))
        throttle.login_failed(email, throttle.client_ip(self.request))
        return super().form_invalid(form)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset form; reset mails are limited per address and per client."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        ip = throttle.client_ip(request)
        wait = throttle.wait_seconds("reset_ip", ip)
        if wait:
            return throttled(request, self.get_template_names(), self.get_context_data(), wait)
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
        return throttled(request, "accounts/signup.html", {**context, "form": form}, wait)
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
                return invitations.accept(request, token, user)
            _welcome(request, user, invitation)
            return redirect(safe_next(request, settings.LOGIN_REDIRECT_URL))
    return render(request, "accounts/signup.html", {**context, "form": form})


def _welcome(request: HttpRequest, user: User, invitation: Invitation | None) -> None:
    """Send the confirmation link and say so (or that it could not be sent)."""
    try:
        services.email_verification_send(user=user, base_url=base_url(request))
    except errors.EmailNotSent:
        messages.success(request, "Welcome to Cutout!")
        messages.warning(
            request,
            "We could not send the confirmation email; ask for a new one from your account page.",
        )
    else:
        messages.success(
            request, f"Welcome to Cutout! We sent a link to {user.email} to confirm your address."
        )
    if invitation is not None:  # for another address: signed up, but not joined
        messages.warning(
            request,
            f"The invitation was for {invitation.email}, so you have not joined "
            f"{invitation.workspace.name}.",
        )


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
            services.email_verification_send(user=user, base_url=base_url(request))
        except errors.EmailNotSent as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"We sent a new confirmation link to {user.email}.")
        return redirect(safe_next(request, reverse("verify_email")))
    return render(request, "accounts/verify_email.html", {"next": request.GET.get("next", "")})


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/account.html")
