"""Template context for the workspace switcher: ``current_workspace``, ``current_membership``,
``workspace_memberships`` (a lazy queryset: no query unless a template lists it)."""

from __future__ import annotations

from typing import Any, cast

from django.http import HttpRequest

from accounts import selectors
from accounts.models import Membership, User


def workspace(request: HttpRequest) -> dict[str, Any]:
    membership: Membership | None = getattr(request, "membership", None)
    if membership is None:
        return {"current_workspace": None, "current_membership": None, "workspace_memberships": ()}
    return {
        "current_workspace": membership.workspace,
        "current_membership": membership,
        "workspace_memberships": selectors.memberships_for_user(cast(User, request.user)),
    }
