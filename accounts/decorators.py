"""The gates of workspace pages: one for every view that needs a signed-in member.

``workspace_required``: signed in, with a current workspace (``request.workspace``, set by
``accounts.middleware.WorkspaceMiddleware``).
``manager_required``: the same, and an owner or admin of it; other members get a 403 page (they
know the workspace; objects of workspaces they are not in are 404s, see
``accounts.selectors.get_for_workspace``).
``owner_required``: the same for owners only.

Each is used bare (``@workspace_required``) or with options::

    @workspace_required(login_message="Log in to remove backgrounds.", answer_json=True)

- signed out: a redirect to the login page that comes back here, showing ``login_message``
  (if any) on the login page. With ``answer_json=True``, a client that asks for JSON
  (``Accept: application/json``, or a path ending in ``.json``) gets a 401 with the web app's
  error body instead: ``{"error": {"code": "not_signed_in", "title", "message", "charged":
  false, "action_url", "action_label"}}``.
- no current workspace: 404.
- not allowed (manager and owner gates), or the view raised ``accounts.errors.NotAllowed``: the
  403 page with its message (:func:`forbidden`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast, overload

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from accounts import errors, permissions
from accounts.models import Role

V = TypeVar("V", bound=Callable[..., HttpResponse])


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    """The 403 page for a member whose role does not allow ``message``'s action."""
    return render(request, "accounts/forbidden.html", {"message": message}, status=403)


def wants_json(request: HttpRequest) -> bool:
    """Whether the client asked for JSON rather than a page."""
    return "application/json" in request.headers.get("Accept", "") or request.path.endswith(".json")


def signed_out_json() -> JsonResponse:
    """401 in the shape of the web app's JSON errors: the session ended, log in again."""
    error = {
        "code": "not_signed_in",
        "title": "You are signed out",
        "message": "Your session has ended. Log in again to continue.",
        "charged": False,
        "action_url": reverse("login"),
        "action_label": "Log in",
    }
    return JsonResponse({"error": error}, status=401)


class Gate:
    """A view decorator: signed in, in a workspace, and ``check`` finds no problem."""

    def __init__(self, check: Callable[[HttpRequest], str | None]) -> None:
        self.check = check

    @overload
    def __call__(self, view: V, /) -> V: ...

    @overload
    def __call__(
        self, view: None = None, /, *, login_message: str = "", answer_json: bool = False
    ) -> Callable[[V], V]: ...

    def __call__(
        self, view: V | None = None, /, *, login_message: str = "", answer_json: bool = False
    ) -> V | Callable[[V], V]:
        def decorator(view: V) -> V:
            @wraps(view)
            def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                if not request.user.is_authenticated:
                    if answer_json and wants_json(request):
                        return signed_out_json()
                    if login_message:
                        messages.info(request, login_message, fail_silently=True)
                    return redirect_to_login(request.get_full_path())
                if getattr(request, "workspace", None) is None:
                    raise Http404("No workspace.")
                problem = self.check(request)
                if problem:
                    return forbidden(request, problem)
                try:
                    return view(request, *args, **kwargs)
                except errors.NotAllowed as exc:
                    return forbidden(request, exc.message)

            return cast(V, wrapped)

        return decorator if view is None else decorator(view)


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


workspace_required = Gate(_any_member)
manager_required = Gate(_manager)
owner_required = Gate(_owner)
