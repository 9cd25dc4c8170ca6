"""The workspace's webhooks page: endpoints (managers edit them) and the delivery log (everyone)."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.decorators import workspace_required
from accounts.middleware import MemberRequest
from cutout.models import WebhookEndpoint
from cutout.webhooks import selectors, services

ACTIONS = ("create", "delete", "ping", "rotate", "enable")


@workspace_required
def webhooks_page(request: HttpRequest) -> HttpResponse:
    req = cast(MemberRequest, request)
    can_manage = req.membership.can_manage
    error = ""
    url_value = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action not in ACTIONS:
            return HttpResponse("Unknown action.", status=400)
        if not can_manage:
            return render(
                request,
                "accounts/forbidden.html",
                {"message": "Only owners and admins can change webhooks."},
                status=403,
            )
        if action == "create":
            url_value = request.POST.get("url", "")
            try:
                services.endpoint_create(
                    workspace=req.workspace,
                    url=url_value,
                    description=request.POST.get("description", ""),
                    created_by=req.user,
                )
            except services.WebhookUrlError as exc:
                error = exc.message
            else:
                messages.success(request, "Webhook endpoint added. Its signing secret is below.")
                return redirect("webhooks")
        else:
            endpoint = _endpoint(req)
            if action == "delete":
                services.endpoint_delete(endpoint=endpoint)
                messages.success(request, "Webhook endpoint removed.")
            elif action == "enable":
                try:
                    services.endpoint_enable(endpoint=endpoint)
                except services.WebhookUrlError as exc:
                    messages.error(request, exc.message)
                else:
                    messages.success(request, "Webhook endpoint enabled again.")
            elif action == "rotate":
                services.endpoint_rotate_secret(endpoint=endpoint)
                messages.success(request, "New signing secret made; the old one no longer works.")
            else:
                services.ping(endpoint=endpoint)
                messages.success(request, "Test event queued; it appears in the log below.")
            return redirect("webhooks")
    endpoints = selectors.endpoints_for(req.workspace)
    return render(
        request,
        "webhooks/webhooks.html",
        {
            "endpoints": endpoints,
            "deliveries": selectors.deliveries_for(req.workspace),
            "can_manage": can_manage,
            "error": error,
            "url_value": url_value,
        },
        status=400 if error else 200,
    )


def _endpoint(req: MemberRequest) -> WebhookEndpoint:
    endpoint = selectors.endpoint_get(workspace=req.workspace, endpoint_id=req.POST.get("endpoint"))
    if endpoint is None:
        raise Http404("No such webhook endpoint in this workspace.")
    return endpoint
