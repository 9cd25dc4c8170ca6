"""What the account views share: the site's base URL, safe ``next`` targets, form errors as
messages, and the throttled answer."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from accounts import throttle


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
