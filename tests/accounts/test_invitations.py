"""Invitations: from the emailed link to a membership; expiry, single use, wrong account."""

from __future__ import annotations

import re
import smtplib
from datetime import timedelta

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import errors, services, tokens
from accounts.middleware import SESSION_KEY
from accounts.models import Invitation, Membership, Role, User
from tests.factories import PASSWORD, Cast, client_in, make_user

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://[^\s]+/invitations/[^\s/]+/")


def _link(message) -> str:
    match = LINK.search(message.body)
    assert match, message.body
    return match.group(0)


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _invite(cast: Cast, mailoutbox, email: str, role: str = "member") -> str:
    response = cast.owner.client.post(reverse("team_invite"), {"email": email, "role": role})
    assert response.status_code == 302
    message = mailoutbox[-1]
    assert message.to == [email]
    assert "olivia@example.com invited you to Acme" in message.subject
    return _path(_link(message))


def test_new_person_signs_up_from_the_email_link(cast: Cast, mailoutbox):
    path = _invite(cast, mailoutbox, "newbie@example.com", role="admin")
    client = Client()
    page = client.get(path)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Join Acme" in body and "Create an account to join" in body

    token = path.rstrip("/").rsplit("/", 1)[1]
    signup_page = client.get(reverse("signup"), {"invitation": token})
    assert 'value="newbie@example.com"' in signup_page.content.decode()

    response = client.post(
        reverse("signup"),
        {
            "email": "newbie@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "invitation": token,
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("team")
    user = User.objects.get(email="newbie@example.com")
    membership = Membership.objects.get(user=user, workspace=cast.team)
    assert membership.role == Role.ADMIN
    assert user.email_verified  # the link reached that mailbox
    assert client.session[SESSION_KEY] == cast.team.pk  # landed in the team
    invitation = Invitation.objects.get(email="newbie@example.com")
    assert invitation.accepted_by == user and invitation.accepted_at is not None
    # No separate confirmation email was needed.
    assert len(mailoutbox) == 1
    assert "newbie@example.com" in client.get(reverse("team")).content.decode()


def test_existing_user_logs_in_and_accepts(cast: Cast, mailoutbox):
    dana = make_user("dana@example.com")
    path = _invite(cast, mailoutbox, "dana@example.com")
    client = Client()
    body = client.get(path).content.decode()
    assert "Log in to accept" in body
    response = client.post(
        reverse("login"), {"username": "Dana@Example.com", "password": PASSWORD, "next": path}
    )
    assert response.status_code == 302 and response["Location"] == path
    assert "Join Acme" in client.get(path).content.decode()
    response = client.post(path)
    assert response.status_code == 302 and response["Location"] == reverse("team")
    assert Membership.objects.get(user=dana, workspace=cast.team).role == Role.MEMBER
    assert client.session[SESSION_KEY] == cast.team.pk


def test_link_works_once(cast: Cast, mailoutbox):
    dana = make_user("dana@example.com")
    path = _invite(cast, mailoutbox, "dana@example.com")
    client = client_in(dana, services.workspace_ensure_personal(user=dana))
    client.post(path)
    assert Membership.objects.filter(user=dana, workspace=cast.team).exists()
    page = client.get(path)
    assert page.status_code == 410
    assert "already been used" in page.content.decode()
    # Even after leaving, the same link does not bring them back.
    Membership.objects.filter(user=dana, workspace=cast.team).delete()
    client.post(path)
    assert not Membership.objects.filter(user=dana, workspace=cast.team).exists()


def test_link_expires(cast: Cast, mailoutbox):
    dana = make_user("dana@example.com")
    path = _invite(cast, mailoutbox, "dana@example.com")
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    client = client_in(dana, services.workspace_ensure_personal(user=dana))
    assert client.get(path).status_code == 410
    client.post(path)
    assert not Membership.objects.filter(user=dana, workspace=cast.team).exists()


def test_signature_expires_after_seven_days(cast: Cast, mailoutbox, monkeypatch):
    invitation = services.invitation_create(workspace=cast.team, email="late@example.com")
    token = _path(services.invitation_url(invitation=invitation)).rstrip("/").rsplit("/", 1)[1]
    assert services.selectors.invitation_from_token(token) == invitation
    later = timezone.now().timestamp() + tokens.INVITATION_TTL.total_seconds() + 5
    monkeypatch.setattr("time.time", lambda: later)
    with pytest.raises(errors.InvitationExpired):
        services.selectors.invitation_from_token(token)


def test_withdrawn_and_replaced_links_stop_working(cast: Cast, mailoutbox):
    first = _invite(cast, mailoutbox, "dana@example.com")
    second = _invite(cast, mailoutbox, "dana@example.com")  # a resend replaces the first
    assert Client().get(first).status_code == 410
    assert Client().get(second).status_code == 200
    services.invitation_revoke(invitation=Invitation.objects.get(revoked_at__isnull=True))
    page = Client().get(second)
    assert page.status_code == 410 and "withdrawn" in page.content.decode()


def test_forged_or_foreign_tokens_are_404(cast: Cast, mailoutbox):
    invitation = services.invitation_create(workspace=cast.team, email="x@example.com")
    forged = signing.dumps(invitation.pk, salt="some.other.purpose", compress=True)
    verify_token = signing.dumps(invitation.pk, salt=tokens.VERIFY_SALT, compress=True)
    for token in (
        "nonsense",
        forged,
        verify_token,
        tokens.sign(999999, salt=tokens.INVITATION_SALT),
    ):
        assert Client().get(reverse("invitation_accept", args=[token])).status_code == 404


def test_wrong_account_cannot_accept(cast: Cast, mailoutbox):
    path = _invite(cast, mailoutbox, "dana@example.com")
    client = cast.outsider.client
    body = client.get(path).content.decode()
    assert "this invitation is for dana@example.com" in body
    response = client.post(path, follow=True)
    assert "sent to dana@example.com" in response.content.decode()
    assert not Membership.objects.filter(user=cast.outsider.user, workspace=cast.team).exists()
    assert Invitation.objects.get().accepted_at is None


def test_signup_with_a_different_email_does_not_join(cast: Cast, mailoutbox):
    path = _invite(cast, mailoutbox, "dana@example.com")
    token = path.rstrip("/").rsplit("/", 1)[1]
    client = Client()
    response = client.post(
        reverse("signup"),
        {
            "email": "other@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "invitation": token,
        },
        follow=True,
    )
    assert "you have not joined Acme" in response.content.decode()
    user = User.objects.get(email="other@example.com")
    assert not Membership.objects.filter(user=user, workspace=cast.team).exists()
    assert not user.email_verified


def test_accepting_as_an_existing_member_keeps_the_role(cast: Cast, mailoutbox):
    invitation = services.invitation_create(workspace=cast.team, email="late@example.com")
    late = make_user("late@example.com")
    services.membership_add(workspace=cast.team, user=late, role=Role.ADMIN)
    token = tokens.sign(invitation.pk, salt=tokens.INVITATION_SALT)
    membership = services.invitation_accept(token=token, user=late)
    assert membership.role == Role.ADMIN
    with pytest.raises(errors.InvitationUsed):
        services.invitation_accept(token=token, user=late)


def test_the_email_says_who_what_and_until_when(cast: Cast, mailoutbox):
    services.invitation_create(
        workspace=cast.team,
        email="x@example.com",
        role=Role.ADMIN,
        invited_by=cast.owner.user,
        base_url="https://cutout.example.com",
    )
    body = mailoutbox[0].body
    assert 'join the workspace "Acme" on Cutout as admin' in body
    assert "https://cutout.example.com/invitations/" in body
    assert "works once" in body


def test_resend_replaces_the_pending_invitation(cast: Cast, mailoutbox):
    first = _invite(cast, mailoutbox, "dana@example.com", role="admin")
    body = cast.owner.client.get(reverse("team")).content.decode()
    assert "Resend the invitation to dana@example.com" in body
    response = cast.owner.client.post(
        reverse("team_invite"), {"email": "dana@example.com", "role": "admin"}
    )
    assert response.status_code == 302
    assert len(mailoutbox) == 2
    second = _path(_link(mailoutbox[1]))
    assert Client().get(first).status_code == 410
    assert Client().get(second).status_code == 200
    assert Invitation.objects.filter(revoked_at__isnull=True).count() == 1


def test_mail_server_failure_keeps_the_invitation_and_says_so(cast: Cast, monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("down")

    monkeypatch.setattr("accounts.services.send_mail", refuse)
    response = cast.owner.client.post(
        reverse("team_invite"), {"email": "dana@example.com", "role": "member"}, follow=True
    )
    assert response.status_code == 200
    assert "could not email it just now" in response.content.decode()
    assert Invitation.objects.filter(email="dana@example.com").exists()
    assert "/invitations/" not in caplog.text  # the link is never logged
