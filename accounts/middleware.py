"""The current workspace of a signed-in user, on every request.

Sets ``request.workspace`` and ``request.membership`` (both None for anonymous requests). The
workspace chosen with the switcher is kept in the session and checked against the user's
memberships on every request, so a stale or tampered session falls back to the personal one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from django.http import HttpRequest, HttpResponse

from accounts import selectors, services
from accounts.models import Membership, User, Workspace

SESSION_KEY = "cutout_workspace_id"


class WorkspaceRequest(HttpRequest):
    """For type checkers: an HttpRequest after WorkspaceMiddleware ran."""

    workspace: Workspace | None
    membership: Membership | None


class MemberRequest(HttpRequest):
    """For type checkers: a request inside a ``workspace_required`` view."""

    user: User
    workspace: Workspace
    membership: Membership


def switch_workspace(request: HttpRequest, membership: Membership) -> None:
    """Makes ``membership``'s workspace current for this and later requests."""
    request.session[SESSION_KEY] = membership.workspace_id
    req = cast(WorkspaceRequest, request)
    req.workspace = membership.workspace
    req.membership = membership


class WorkspaceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        req = cast(WorkspaceRequest, request)
        req.workspace = None
        req.membership = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if TYPE_CHECKING:
                assert isinstance(user, User)
            wanted = request.session.get(SESSION_KEY)
            membership = selectors.membership_current(user, wanted)
            if membership is None:
                services.workspace_ensure_personal(user=user)
                membership = selectors.membership_current(user, None)
            if membership is not None:
                req.workspace = membership.workspace
                req.membership = membership
                if wanted != membership.workspace_id:
                    request.session[SESSION_KEY] = membership.workspace_id
        return self.get_response(request)
