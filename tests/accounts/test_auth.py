"""Sign-up, log in/out, password change and reset, email verification."""

from __future__ import annotations

import re
import smtplib

import pytest
from django.contrib.auth import SESSION_KEY as AUTH_SESSION_KEY
from django.test import Client
from django.urls import reverse

from accounts import services, tokens
from accounts.models import Membership, Role, User, Workspace
from billing.selectors import balance_for
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

URL = re.compile(r"https?://\S+")


def _path(message, marker: str) -> str:
    urls = [u for u in URL.findall(message.body) if marker in u]
    assert urls, message.body
    return "/" + urls[0].split("/", 3)[3]


def test_signup_creates_account_workspace_credits_and_sends_confirmation(
    client, mailoutbox, settings
):
    settings.CUTOUT_TRIAL_CREDITS = 25
    page = client.get(reverse("signup"))
    assert page.status_code == 200
    body = page.content.decode()
    assert '<label for="id_email">Email address' in body
    assert '<label for="id_password1">Password' in body

    response = client.post(
        reverse("signup"),
        {"email": "Ann@Example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302 and response["Location"] == reverse("home")
    user = User.objects.get(email="ann@example.com")
    assert int(client.session[AUTH_SESSION_KEY]) == user.pk
    personal = Workspace.objects.get(memberships__user=user)
    assert personal.kind == Workspace.Kind.PERSONAL
    assert Membership.objects.get(user=user).role == Role.OWNER
    assert balance_for(personal).balance == 25
    assert not user.email_verified
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["ann@example.com"]
    assert "Confirm your email" in mailoutbox[0].subject


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"email": "bad", "password1": PASSWORD, "password2": PASSWORD}, "valid email"),
        ({"email": "a@example.com", "password1": PASSWORD, "password2": "other one!"}, "differ"),
        ({"email": "a@example.com", "password1": "123", "password2": "123"}, "too short"),
        (
            {"email": "a@example.com", "password1": "password", "password2": "password"},
            "too common",
        ),
        (
            {"email": "TAKEN@example.com", "password1": PASSWORD, "password2": PASSWORD},
            "already exists",
        ),
    ],
)
def test_signup_errors(client, data, error, mailoutbox):
    make_user("taken@example.com")
    response = client.post(reverse("signup"), data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert User.objects.count() == 1
    assert mailoutbox == []


def test_login_is_case_insensitive_and_logout_needs_post(client):
    make_user("case@example.com")
    response = client.post(
        reverse("login"), {"username": " CASE@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert client.get(reverse("team")).status_code == 200
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("team")).status_code == 302


def test_login_failure_says_so(client):
    make_user("x@example.com")
    response = client.post(reverse("login"), {"username": "x@example.com", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct email address and password" in response.content.decode()


def test_password_change(client):
    user = make_user("pw@example.com")
    client.force_login(user)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "another good phrase",
            "new_password2": "another good phrase",
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("password_change_done")
    user.refresh_from_db()
    assert user.check_password("another good phrase")
    assert client.get(reverse("password_change_done")).status_code == 200


def test_password_reset_by_email(mailoutbox):
    make_user("forgot@example.com")
    client = Client()
    response = client.post(reverse("password_reset"), {"email": "FORGOT@example.com"})
    assert response.status_code == 302
    assert len(mailoutbox) == 1 and mailoutbox[0].subject == "Reset your Cutout password"
    path = _path(mailoutbox[0], "/password-reset/")
    page = client.get(path, follow=True)
    assert "Choose a new password" in page.content.decode()
    response = client.post(
        page.redirect_chain[-1][0],
        {"new_password1": "a brand new phrase", "new_password2": "a brand new phrase"},
    )
    assert response["Location"] == reverse("password_reset_complete")
    assert User.objects.get(email="forgot@example.com").check_password("a brand new phrase")
    # The link works once.
    assert "does not work any more" in client.get(path, follow=True).content.decode()


def test_password_reset_for_unknown_email_sends_nothing_and_says_the_same(client, mailoutbox):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert mailoutbox == []


def test_email_verification(mailoutbox):
    user = make_user("verify@example.com", verified=False)
    client = Client()
    client.force_login(user)
    page = client.get(reverse("verify_email"))
    assert "Send a new confirmation link" in page.content.decode()
    client.post(reverse("verify_email"))
    assert len(mailoutbox) == 1
    path = _path(mailoutbox[0], "/account/verify/")
    response = client.get(path)
    assert response.status_code == 302 and response["Location"] == reverse("account")
    user.refresh_from_db()
    assert user.email_verified
    first = user.email_verified_at
    client.get(path)  # opening it again changes nothing
    user.refresh_from_db()
    assert user.email_verified_at == first
    assert "confirmed" in client.get(reverse("account")).content.decode()


def test_verification_link_works_logged_out_and_rejects_tampering(mailoutbox):
    user = make_user("v2@example.com", verified=False)
    services.email_verification_send(user=user)
    path = _path(mailoutbox[0], "/account/verify/")
    assert Client().get(path[:-3] + "xx/").status_code == 400
    # A token for another address (say, after an email change) is refused.
    stale = tokens.sign({"u": user.pk, "e": "old@example.com"}, salt=tokens.VERIFY_SALT)
    assert Client().get(reverse("verify_email", args=[stale])).status_code == 400
    invite_salted = tokens.sign({"u": user.pk, "e": user.email}, salt=tokens.INVITATION_SALT)
    assert Client().get(reverse("verify_email", args=[invite_salted])).status_code == 400
    user.refresh_from_db()
    assert not user.email_verified
    response = Client().get(path)
    assert response.status_code == 302 and response["Location"] == reverse("login")
    user.refresh_from_db()
    assert user.email_verified


def test_signed_in_user_visiting_signup_goes_home(client):
    client.force_login(make_user("in@example.com"))
    assert client.get(reverse("signup"))["Location"] == reverse("home")


def test_users_without_a_workspace_get_one_on_first_request(client, settings):
    settings.CUTOUT_TRIAL_CREDITS = 25
    admin = User.objects.create_superuser(email="root@example.com", password=PASSWORD)
    assert not Membership.objects.filter(user=admin).exists()
    client.force_login(admin)
    assert client.get(reverse("team")).status_code == 200
    workspace = Workspace.objects.get(memberships__user=admin)
    assert workspace.kind == Workspace.Kind.PERSONAL
    assert balance_for(workspace).balance == 25


def test_signup_survives_a_mail_server_failure(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("down")

    monkeypatch.setattr("accounts.services.send_mail", refuse)
    response = client.post(
        reverse("signup"),
        {"email": "ann@example.com", "password1": PASSWORD, "password2": PASSWORD},
        follow=True,
    )
    assert "could not send the confirmation email" in response.content.decode()
    assert User.objects.filter(email="ann@example.com").exists()
