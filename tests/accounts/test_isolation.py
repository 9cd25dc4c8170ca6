"""Tenant isolation helpers, the workspace middleware and the view decorators."""

from __future__ import annotations

import json
import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.http import Http404, HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from accounts.decorators import manager_required, owner_required, workspace_required
from accounts.errors import NotAllowed
from accounts.middleware import SESSION_KEY, WorkspaceMiddleware
from accounts.models import Membership
from accounts.selectors import for_workspace, get_for_workspace, membership_current
from cutout.models import Cutout, Job, JobItem
from tests.factories import Cast

pytestmark = pytest.mark.django_db


def test_get_for_workspace_is_404_for_other_workspaces(cast: Cast):
    mine = Cutout.objects.create(workspace=cast.team, input_sha256="a")
    theirs = Cutout.objects.create(workspace=cast.other_team, input_sha256="b")
    assert get_for_workspace(Cutout.objects.all(), cast.team, pk=mine.pk) == mine
    for lookup in ({"pk": theirs.pk}, {"pk": uuid.uuid4()}, {"pk": "not-a-uuid"}):
        with pytest.raises(Http404):
            get_for_workspace(Cutout.objects.all(), cast.team, **lookup)
    with pytest.raises(Http404):
        get_for_workspace(Cutout.objects.all(), None, pk=mine.pk)


def test_for_workspace_with_a_path_to_the_workspace(cast: Cast):
    job = Job.objects.create(workspace=cast.team)
    item = JobItem.objects.create(job=job, position=0, name="a.jpg")
    other = JobItem.objects.create(
        job=Job.objects.create(workspace=cast.other_team), position=0, name="b.jpg"
    )
    items = for_workspace(JobItem.objects.all(), cast.team, field="job__workspace")
    assert list(items) == [item]
    with pytest.raises(Http404):
        get_for_workspace(JobItem.objects.all(), cast.team, field="job__workspace", pk=other.pk)
    assert list(for_workspace(JobItem.objects.all(), None, field="job__workspace")) == []


def _request(user, workspace_id=None):
    request = RequestFactory().get("/")
    request.user = user
    request.session = SessionStore()
    if workspace_id is not None:
        request.session[SESSION_KEY] = workspace_id
    return request


def _run(request):
    seen = {}

    def view(req):
        seen["workspace"], seen["membership"] = req.workspace, req.membership
        return HttpResponse()

    WorkspaceMiddleware(view)(request)
    return seen


def test_middleware_uses_one_query(cast: Cast, django_assert_num_queries):
    request = _request(cast.teammate.user, cast.team.pk)
    with django_assert_num_queries(1):
        seen = _run(request)
    assert seen["workspace"] == cast.team
    assert seen["membership"].role == "member"


@pytest.mark.parametrize("stored", [None, "garbage", 999999, "other_team"])
def test_middleware_falls_back_to_personal(cast: Cast, stored):
    if stored == "other_team":
        stored = cast.other_team.pk
    request = _request(cast.teammate.user, stored)
    seen = _run(request)
    assert seen["workspace"] == cast.teammate.personal
    assert request.session[SESSION_KEY] == cast.teammate.personal.pk


def test_middleware_leaves_anonymous_requests_alone(django_assert_num_queries):
    request = _request(AnonymousUser())
    with django_assert_num_queries(0):
        seen = _run(request)
    assert seen == {"workspace": None, "membership": None}


def test_membership_current_prefers_session_then_personal_then_oldest(cast: Cast):
    user = cast.owner.user

    def current(wanted):
        membership = membership_current(user, wanted)
        return membership.workspace if membership else None

    assert current(cast.team.pk) == cast.team
    assert current(str(cast.team.pk)) == cast.team
    assert current(None) == cast.owner.personal
    Membership.objects.filter(workspace=cast.owner.personal).delete()
    assert current(None) == cast.team
    Membership.objects.filter(user=user).delete()
    assert current(cast.team.pk) is None


def _decorated(decorator):
    @decorator
    def view(request):
        return HttpResponse("ok")

    return view


@pytest.mark.parametrize(
    ("decorator", "allowed"),
    [
        (workspace_required, {"owner", "admin", "teammate"}),
        (manager_required, {"owner", "admin"}),
        (owner_required, {"owner"}),
    ],
)
def test_decorators(cast: Cast, decorator, allowed):
    view = _decorated(decorator)
    for who in ("owner", "admin", "teammate"):
        persona = getattr(cast, who)
        request = _request(persona.user)
        request.workspace = cast.team
        request.membership = Membership.objects.get(user=persona.user, workspace=cast.team)
        response = view(request)
        assert response.status_code == (200 if who in allowed else 403), who
    anonymous = _request(AnonymousUser())
    anonymous.workspace = anonymous.membership = None
    assert view(anonymous).status_code == 302


def _signed_out(path: str, **headers):
    request = RequestFactory().get(path, **headers)
    request.user = AnonymousUser()
    request.session = SessionStore()
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    request.workspace = request.membership = None  # type: ignore[attr-defined]
    return request


def test_gate_options_for_signed_out_clients(cast: Cast):
    """``answer_json`` answers scripts in the web app's error shape; pages go to the login page
    with ``login_message`` shown there. Signed in, the view runs."""
    view = _decorated(workspace_required(login_message="Log in to see this.", answer_json=True))
    for request in (
        _signed_out("/library", HTTP_ACCEPT="application/json"),
        _signed_out("/batches/1/status.json"),
    ):
        response = view(request)
        assert response.status_code == 401
        assert json.loads(response.content) == {
            "error": {
                "code": "not_signed_in",
                "title": "You are signed out",
                "message": "Your session has ended. Log in again to continue.",
                "charged": False,
                "action_url": reverse("login"),
                "action_label": "Log in",
            }
        }
        assert list(get_messages(request)) == []
    page = _signed_out("/library?page=2")
    response = view(page)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/library%3Fpage%3D2"
    assert [m.message for m in get_messages(page)] == ["Log in to see this."]

    plain = _decorated(workspace_required)  # no options: a redirect for everyone, no message
    request = _signed_out("/x.json", HTTP_ACCEPT="application/json")
    assert plain(request).status_code == 302 and list(get_messages(request)) == []

    managers = _decorated(manager_required(answer_json=True))
    assert managers(_signed_out("/x", HTTP_ACCEPT="application/json")).status_code == 401
    teammate = _request(cast.teammate.user)
    teammate.workspace = cast.team
    teammate.membership = Membership.objects.get(user=cast.teammate.user, workspace=cast.team)
    assert managers(teammate).status_code == 403
    assert view(teammate).status_code == 200


def test_gates_answer_not_allowed_with_the_403_page(cast: Cast):
    @workspace_required
    def view(request):
        raise NotAllowed("Only owners can rename the moon.")

    request = _request(cast.teammate.user)
    request.workspace = cast.team
    request.membership = Membership.objects.get(user=cast.teammate.user, workspace=cast.team)
    response = view(request)
    assert response.status_code == 403
    assert "Only owners can rename the moon." in response.content.decode()
