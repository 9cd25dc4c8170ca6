"""Reads of a workspace's webhook endpoints and its delivery log."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import Workspace
from cutout.cutouts.selectors import as_uuid
from cutout.models import WebhookDelivery, WebhookEndpoint


def endpoints_for(workspace: Workspace) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(workspace=workspace).order_by("created_at")


def endpoint_get(*, workspace: Workspace, endpoint_id: Any) -> WebhookEndpoint | None:
    """The workspace's endpoint with that id; None for a missing, foreign or malformed id."""
    pk = as_uuid(endpoint_id)
    if pk is None:
        return None
    return WebhookEndpoint.objects.filter(workspace=workspace, id=pk).first()


def deliveries_for(workspace: Workspace, *, limit: int = 50) -> list[WebhookDelivery]:
    """The workspace's delivery log, newest first."""
    return list(
        WebhookDelivery.objects.filter(workspace=workspace)
        .select_related("endpoint")
        .order_by("-created_at")[:limit]
    )
