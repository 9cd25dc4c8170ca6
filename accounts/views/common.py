"""What the account views share: the site's base URL, safe ``next`` targets, form errors as
messages, the throttled answer, and objects only managers may change."""

from __future__ import annotations

from typing import Any, TypeVar

from django import forms
from django.contrib import messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from accounts import errors, permissions, selectors, throttle
from accounts.middleware import MemberRequest

M = TypeVar("M", bound=Model)


def base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def form_errors_to_messages(request: HttpRequest, form: forms.Form) -> None:
    for field_errors in form.errors.as_data().values():
        for error in field_errors:
            for message in error.messages:
                messages.error(request, message)


def throttled(
    request: HttpRequest, template: str | list[str], context: dict[str, Any], wait: int
) -> HttpResponse:
    """The form page again, saying to wait: 429 with Retry-After."""
    messages.error(request, throttle.message(wait))
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(wait)
    return response


def managed_object(req: MemberRequest, queryset: QuerySet[M], pk: int, *, refusal: str) -> M:
    """The current workspace's object ``pk``, for an owner or admin to change.

    Another workspace's object (or none) is a 404 whoever asks, so the role is checked after the
    lookup: a member without the role gets the 403 page saying ``refusal`` (``NotAllowed``, which
    the workspace gates answer).
    """
    found = selectors.get_for_workspace(queryset, req.workspace, pk=pk)
    if not permissions.can_manage(req.membership.role):
        raise errors.NotAllowed(refusal)
    return found
