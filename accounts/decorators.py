"""View decorators for workspace pages.

``workspace_required``: signed in, with a current workspace (``request.workspace``).
``manager_required``: the same, and an owner or admin of it; other members get a 403 page (they
know the workspace; objects of workspaces they are not in are 404s, see
``accounts.selectors.get_for_workspace``).
``owner_required``: the same for owners only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from accounts import permissions
from accounts.models import Role

V = TypeVar("V", bound=Callable[..., HttpResponse])


def _forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "accounts/forbidden.html", {"message": message}, status=403)


def _gate(check: Callable[[HttpRequest], str | None]) -> Callable[[V], V]:
    def decorator(view: V) -> V:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if getattr(request, "workspace", None) is None:
                raise Http404("No workspace.")
            problem = check(request)
            if problem:
                return _forbidden(request, problem)
            return view(request, *args, **kwargs)

        return cast(V, wrapped)

    return decorator


def _any_member(request: HttpRequest) -> str | None:
    return None


def _manager(request: HttpRequest) -> str | None:
    membership = getattr(request, "membership", None)
    if membership is not None and permissions.can_manage(membership.role):
        return None
    return "Only owners and admins of this workspace can open this page."


def _owner(request: HttpRequest) -> str | None:
    membership = getattr(request, "membership", None)
    if membership is not None and membership.role == Role.OWNER:
        return None
    return "Only owners of this workspace can do that."


workspace_required = _gate(_any_member)
manager_required = _gate(_manager)
owner_required = _gate(_owner)
