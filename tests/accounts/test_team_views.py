"""Team pages through the client: every permission and every 404, per persona."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import services
from accounts.middleware import SESSION_KEY
from accounts.models import ApiKey, Invitation, Membership, Role
from tests.factories import Cast, client_in, make_user

pytestmark = pytest.mark.django_db


def _membership(cast: Cast, who: str) -> Membership:
    return Membership.objects.get(workspace=cast.team, user=getattr(cast, who).user)


def test_anonymous_is_sent_to_login(client):
    for name in ("team", "workspaces", "api_keys", "account"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_every_member_sees_the_member_list(cast: Cast):
    for who in ("owner", "admin", "teammate"):
        response = getattr(cast, who).client.get(reverse("team"))
        assert response.status_code == 200
        body = response.content.decode()
        for email in ("olivia@example.com", "adam@example.com", "tess@example.com"):
            assert email in body
        assert "oscar@example.com" not in body
        assert ("Invite someone" in body) == (who != "teammate")
        assert ("Send invitation" in body) == (who != "teammate")


def test_outsider_sees_only_their_team(cast: Cast):
    body = cast.outsider.client.get(reverse("team")).content.decode()
    assert "Globex" in body and "oscar@example.com" in body
    assert "tess@example.com" not in body and "Acme" not in body


def test_member_cannot_invite(cast: Cast, mailoutbox):
    response = cast.teammate.client.post(
        reverse("team_invite"), {"email": "new@example.com", "role": "member"}
    )
    assert response.status_code == 403
    assert not Invitation.objects.exists()
    assert mailoutbox == []


def test_admin_invites_members_but_not_owners(cast: Cast, mailoutbox):
    response = cast.admin.client.post(
        reverse("team_invite"), {"email": "New@Example.com", "role": "admin"}
    )
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "new@example.com",
        Role.ADMIN,
        cast.admin.user,
    )
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["new@example.com"]

    response = cast.admin.client.post(
        reverse("team_invite"), {"email": "boss@example.com", "role": "owner"}, follow=True
    )
    assert not Invitation.objects.filter(email="boss@example.com").exists()
    assert "Select a valid choice" in response.content.decode()


def test_owner_invites_an_owner(cast: Cast, mailoutbox):
    cast.owner.client.post(reverse("team_invite"), {"email": "co@example.com", "role": "owner"})
    assert Invitation.objects.get(email="co@example.com").role == Role.OWNER


def test_inviting_an_existing_member_is_refused(cast: Cast, mailoutbox):
    response = cast.owner.client.post(
        reverse("team_invite"), {"email": "TESS@example.com", "role": "member"}, follow=True
    )
    assert "already a member" in response.content.decode()
    assert not Invitation.objects.exists() and mailoutbox == []


def test_personal_workspace_cannot_invite(cast: Cast, mailoutbox):
    client = client_in(cast.teammate.user, cast.teammate.personal)
    body = client.get(reverse("team")).content.decode()
    assert "Invite someone" not in body and "personal workspace" in body
    response = client.post(
        reverse("team_invite"), {"email": "x@example.com", "role": "member"}, follow=True
    )
    assert "cannot be shared" in response.content.decode()
    assert not Invitation.objects.exists()


def test_roles(cast: Cast):
    teammate = _membership(cast, "teammate")
    owner = _membership(cast, "owner")
    url = reverse("team_member_role", args=[teammate.pk])

    # A member changes nobody's role, not even their own.
    response = cast.teammate.client.post(url, {f"m{teammate.pk}-role": "admin"})
    assert response.status_code == 403
    assert Membership.objects.get(pk=teammate.pk).role == Role.MEMBER

    # An admin promotes a member to admin, but cannot make owners or demote owners.
    assert cast.admin.client.post(url, {f"m{teammate.pk}-role": "admin"}).status_code == 302
    assert Membership.objects.get(pk=teammate.pk).role == Role.ADMIN
    cast.admin.client.post(url, {f"m{teammate.pk}-role": "owner"})
    assert Membership.objects.get(pk=teammate.pk).role == Role.ADMIN
    response = cast.admin.client.post(
        reverse("team_member_role", args=[owner.pk]), {f"m{owner.pk}-role": "member"}
    )
    assert response.status_code == 403
    assert Membership.objects.get(pk=owner.pk).role == Role.OWNER

    # The owner makes owners.
    cast.owner.client.post(url, {f"m{teammate.pk}-role": "owner"})
    assert Membership.objects.get(pk=teammate.pk).role == Role.OWNER


def test_last_owner_cannot_demote_themselves(cast: Cast):
    owner = _membership(cast, "owner")
    response = cast.owner.client.post(
        reverse("team_member_role", args=[owner.pk]), {f"m{owner.pk}-role": "admin"}, follow=True
    )
    assert "at least one owner" in response.content.decode()
    assert Membership.objects.get(pk=owner.pk).role == Role.OWNER


def test_remove(cast: Cast):
    teammate, owner, admin = (_membership(cast, w) for w in ("teammate", "owner", "admin"))
    # Members remove nobody else.
    response = cast.teammate.client.post(reverse("team_member_remove", args=[admin.pk]))
    assert response.status_code == 403
    # Admins cannot remove owners.
    response = cast.admin.client.post(reverse("team_member_remove", args=[owner.pk]))
    assert response.status_code == 403
    assert Membership.objects.filter(pk=owner.pk).exists()
    # Admins remove members; the removed member loses access at once.
    assert (
        cast.admin.client.post(reverse("team_member_remove", args=[teammate.pk])).status_code == 302
    )
    assert not Membership.objects.filter(pk=teammate.pk).exists()
    body = cast.teammate.client.get(reverse("team")).content.decode()
    assert "Acme" not in body  # fell back to the personal workspace
    # Owners remove admins.
    cast.owner.client.post(reverse("team_member_remove", args=[admin.pk]))
    assert not Membership.objects.filter(pk=admin.pk).exists()


def test_removal_warns_about_keys_the_member_created(cast: Cast):
    services.api_key_create(workspace=cast.team, name="CI", created_by=cast.admin.user)
    admin = _membership(cast, "admin")
    response = cast.owner.client.post(reverse("team_member_remove", args=[admin.pk]), follow=True)
    assert "1 API key(s) that still work" in response.content.decode()


def test_leave(cast: Cast):
    response = cast.teammate.client.post(reverse("team_leave"))
    assert response.status_code == 302 and response["Location"] == reverse("workspaces")
    assert not Membership.objects.filter(workspace=cast.team, user=cast.teammate.user).exists()
    assert cast.teammate.client.session[SESSION_KEY] == cast.teammate.personal.pk


def test_last_owner_cannot_leave(cast: Cast):
    body = cast.owner.client.get(reverse("team")).content.decode()
    assert "cannot leave" in body
    response = cast.owner.client.post(reverse("team_leave"), follow=True)
    assert "at least one owner" in response.content.decode()
    assert Membership.objects.filter(workspace=cast.team, user=cast.owner.user).exists()


def test_withdraw_invitation(cast: Cast, mailoutbox):
    invitation = services.invitation_create(
        workspace=cast.team, email="x@example.com", invited_by=cast.owner.user
    )
    url = reverse("invitation_revoke", args=[invitation.pk])
    assert cast.teammate.client.post(url).status_code == 403
    assert Invitation.objects.get(pk=invitation.pk).revoked_at is None
    assert cast.admin.client.post(url).status_code == 302
    assert Invitation.objects.get(pk=invitation.pk).revoked_at is not None


def test_team_settings(cast: Cast):
    data = {"name": "Acme Studio", "keep_originals": "on", "retention_days": "30"}
    assert cast.teammate.client.post(reverse("team_settings"), data).status_code == 403
    cast.team.refresh_from_db()
    assert cast.team.name == "Acme"
    assert cast.admin.client.post(reverse("team_settings"), data).status_code == 302
    cast.team.refresh_from_db()
    assert (cast.team.name, cast.team.keep_originals, cast.team.retention_days) == (
        "Acme Studio",
        True,
        30,
    )


def test_another_workspaces_objects_are_404(cast: Cast):
    """Outsider (a manager in Globex) aims at Acme's members, invitations and keys."""
    teammate = _membership(cast, "teammate")
    invitation = services.invitation_create(workspace=cast.team, email="x@example.com")
    key, _secret = services.api_key_create(workspace=cast.team, name="prod")
    posts = [
        (reverse("team_member_role", args=[teammate.pk]), {f"m{teammate.pk}-role": "admin"}),
        (reverse("team_member_remove", args=[teammate.pk]), {}),
        (reverse("invitation_revoke", args=[invitation.pk]), {}),
        (reverse("api_key_revoke", args=[key.pk]), {}),
        (reverse("api_key_update", args=[key.pk]), {f"k{key.pk}-name": "x"}),
        (reverse("workspace_switch"), {"workspace": cast.team.slug}),
    ]
    for url, data in posts:
        for persona in (cast.outsider,):
            assert persona.client.post(url, data).status_code == 404, url
    # A member of Acme without a manager role, sitting in their personal workspace: still 404.
    client = client_in(cast.teammate.user, cast.teammate.personal)
    for url, data in posts[:-1]:
        assert client.post(url, data).status_code == 404, url
    # Nothing changed.
    assert Membership.objects.get(pk=teammate.pk).role == Role.MEMBER
    assert Invitation.objects.get(pk=invitation.pk).revoked_at is None
    key.refresh_from_db()
    assert key.revoked_at is None and key.name == "prod"


def test_missing_ids_are_404(cast: Cast):
    assert cast.owner.client.post(reverse("team_member_remove", args=[999999])).status_code == 404
    assert cast.owner.client.post(reverse("api_key_revoke", args=[999999])).status_code == 404


def test_tampered_session_falls_back_to_personal(cast: Cast):
    client = client_in(cast.outsider.user, cast.team)  # session says Acme; Oscar is not in it
    body = client.get(reverse("team")).content.decode()
    assert "Acme" not in body and "tess@example.com" not in body
    assert client.session[SESSION_KEY] == cast.outsider.personal.pk


def test_switch_workspace(cast: Cast):
    client = cast.teammate.client
    response = client.post(
        reverse("workspace_switch"), {"workspace": cast.teammate.personal.slug, "next": "/team/"}
    )
    assert response.status_code == 302 and response["Location"] == "/team/"
    assert client.session[SESSION_KEY] == cast.teammate.personal.pk
    assert "personal workspace" in client.get(reverse("team")).content.decode()
    # An unsafe next is ignored.
    response = client.post(
        reverse("workspace_switch"), {"workspace": cast.team.slug, "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("home")
    assert client.session[SESSION_KEY] == cast.team.pk


def test_create_team_makes_it_current(cast: Cast):
    client = cast.teammate.client
    response = client.post(reverse("workspaces"), {"name": "Tess Photo"})
    assert response.status_code == 302 and response["Location"] == reverse("team")
    membership = Membership.objects.get(user=cast.teammate.user, workspace__name="Tess Photo")
    assert membership.role == Role.OWNER
    assert client.session[SESSION_KEY] == membership.workspace_id


def test_workspaces_page_lists_only_own_workspaces(cast: Cast):
    body = cast.teammate.client.get(reverse("workspaces")).content.decode()
    assert "Acme" in body and "Personal" in body and "Globex" not in body


def _grow(cast: Cast, n: int) -> None:
    for i in range(n):
        user = make_user(f"extra{i}-{Membership.objects.count()}@example.com")
        services.membership_add(workspace=cast.team, user=user, role=Role.ADMIN)
        services.invitation_create(workspace=cast.team, email=f"inv{i}-{user.pk}@example.com")
        services.api_key_create(workspace=cast.team, name=f"key {i}", created_by=user)


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    ("name", "own_queries"),
    [("team", 2), ("api_keys", 1), ("workspaces", 1)],
)
def test_list_pages_query_counts(
    cast: Cast, django_assert_num_queries, mailoutbox, name, own_queries
):
    """A list page costs the base layout's queries (session, user, current membership, whatever
    base.html shows) plus a fixed number of its own, for 3 rows as for 13."""
    client = cast.owner.client
    url = reverse(name)
    _grow(cast, 1)
    base = _queries(client, reverse("account"))  # same layout, no lists of its own
    with django_assert_num_queries(base + own_queries):
        assert client.get(url).status_code == 200
    _grow(cast, 10)
    with django_assert_num_queries(base + own_queries):
        assert client.get(url).status_code == 200
    assert ApiKey.objects.filter(workspace=cast.team).count() == 11
