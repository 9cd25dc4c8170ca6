"""The workspace's API keys: made, renamed, capped and revoked by owners and admins.

A new key's secret is shown once and stored hashed. Making a key is post/redirect/get: the POST
puts the secret in the session for one reveal and redirects; the GET that follows takes it out
and shows it (never cached), so reloading the page shows the list, not a second new key.
"""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.db.models import F
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts import forms, selectors, services
from accounts.decorators import manager_required, workspace_required
from accounts.middleware import MemberRequest
from accounts.models import ApiKey
from accounts.views.common import managed_object

REVEAL_SESSION_KEY = "api_key_reveal"


def _take_reveal(request: HttpRequest, req: MemberRequest) -> tuple[ApiKey | None, str]:
    """The key made by the POST just before, and its secret, once (then gone from the session)."""
    reveal = request.session.pop(REVEAL_SESSION_KEY, None)
    key_id = reveal.get("id") if isinstance(reveal, dict) else None
    if not isinstance(key_id, int):
        return None, ""
    key = selectors.api_keys_for_workspace(req.workspace).filter(pk=key_id).first()
    return (key, str(reveal.get("secret", ""))) if key is not None else (None, "")


@manager_required
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    req = cast(MemberRequest, request)
    form = forms.ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        made, secret = services.api_key_create(
            workspace=req.workspace,
            name=form.cleaned_data["name"],
            created_by=req.user,
            monthly_cap=form.cleaned_data["monthly_cap"],
        )
        request.session[REVEAL_SESSION_KEY] = {"id": made.pk, "secret": secret}
        return redirect("api_keys")
    new_key, new_secret = _take_reveal(request, req) if request.method == "GET" else (None, "")
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
    key = managed_object(
        req,
        ApiKey.objects.select_related("workspace"),
        pk,
        refusal="Only owners and admins can change API keys.",
    )
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
    key = managed_object(
        req,
        ApiKey.objects.select_related("workspace"),
        pk,
        refusal="Only owners and admins can revoke API keys.",
    )
    services.api_key_revoke(api_key=key, by=req.user)
    messages.success(request, f"Revoked {key.name}. It stops working immediately.")
    return HttpResponseRedirect(reverse("api_keys"))
