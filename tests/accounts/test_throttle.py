"""Throttling of sign-in, sign-up and password-reset: guessing, account farming, mail bombing."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY as AUTH_SESSION_KEY
from django.test import Client
from django.urls import reverse

from accounts import throttle
from accounts.models import User
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def login(client: Client, email: str, password: str, ip: str = "203.0.113.9"):
    return client.post(reverse("login"), {"username": email, "password": password}, REMOTE_ADDR=ip)


def later(monkeypatch: pytest.MonkeyPatch, seconds: int) -> None:
    """Move the throttle's clock forward."""
    import time as real_time

    now = real_time.time() + seconds
    monkeypatch.setattr(throttle.time, "time", lambda: now)


def test_failed_logins_lock_the_guessing_client_out_even_for_the_right_password(
    client, settings, monkeypatch
):
    settings.CUTOUT_AUTH_THROTTLE = {"login_email": (3, 900)}
    make_user("victim@example.com")
    make_user("bystander@example.com")
    for _ in range(3):
        assert login(client, "Victim@example.com", "guess").status_code == 200
    blocked = login(client, "victim@example.com", PASSWORD)
    assert blocked.status_code == 429 and 1 <= int(blocked["Retry-After"]) <= 900
    assert "Too many attempts" in blocked.content.decode()
    assert AUTH_SESSION_KEY not in client.session  # not signed in, the password not even tried
    # Another address from the same client is not affected.
    assert login(Client(), "bystander@example.com", PASSWORD).status_code == 302
    # The window passes: the right password works again.
    later(monkeypatch, 901)
    assert login(client, "victim@example.com", PASSWORD).status_code == 302


def test_failed_logins_from_one_client_across_addresses(settings):
    settings.CUTOUT_AUTH_THROTTLE = {"login_ip": (4, 900)}
    make_user("real@example.com")
    client = Client()
    for n in range(4):
        assert login(client, f"spray{n}@example.com", "guess", ip="198.51.100.7").status_code == 200
    assert login(client, "real@example.com", PASSWORD, ip="198.51.100.7").status_code == 429
    # Successful sign-ins are not counted, and other clients go on.
    assert login(Client(), "real@example.com", PASSWORD, ip="198.51.100.8").status_code == 302


def test_signups_per_client_are_limited(settings):
    settings.CUTOUT_AUTH_THROTTLE = {"signup_ip": (2, 3600)}

    def signup(email: str, ip: str):
        return Client().post(
            reverse("signup"),
            {"email": email, "password1": PASSWORD, "password2": PASSWORD},
            REMOTE_ADDR=ip,
        )

    assert signup("one@example.com", "192.0.2.10").status_code == 302
    # A refused form (bad data) is not an account made: it does not count.
    assert signup("not-an-email", "192.0.2.10").status_code == 200
    assert signup("two@example.com", "192.0.2.10").status_code == 302
    third = signup("three@example.com", "192.0.2.10")
    assert third.status_code == 429 and "Too many attempts" in third.content.decode()
    assert 'value="three@example.com"' in third.content.decode()  # what was typed is kept
    assert not User.objects.filter(email="three@example.com").exists()
    assert signup("three@example.com", "192.0.2.11").status_code == 302


def test_reset_mails_per_address_stop_silently(settings, mailoutbox):
    settings.CUTOUT_AUTH_THROTTLE = {"reset_email": (2, 3600)}
    make_user("inbox@example.com")
    answers = [
        Client().post(reverse("password_reset"), {"email": "inbox@example.com"}) for _ in range(4)
    ]
    # Every answer is the usual "check your mail" redirect: nothing tells the sender that the
    # address exists or that it is throttled; only two mails went out.
    assert {(r.status_code, r["Location"]) for r in answers} == {
        (302, reverse("password_reset_done"))
    }
    assert len(mailoutbox) == 2


def test_reset_requests_per_client_are_limited(settings, mailoutbox):
    settings.CUTOUT_AUTH_THROTTLE = {"reset_ip": (2, 3600)}
    client = Client()
    for n in range(2):
        r = client.post(reverse("password_reset"), {"email": f"u{n}@example.com"})
        assert r.status_code == 302
    r = client.post(reverse("password_reset"), {"email": "u9@example.com"})
    assert r.status_code == 429 and "Too many attempts" in r.content.decode()


def test_client_address_behind_trusted_proxies(settings, rf):
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 5.6.7.8")
    settings.CUTOUT_TRUSTED_PROXIES = 0
    assert throttle.client_ip(request) == "10.0.0.2"  # a spoofable header is ignored by default
    settings.CUTOUT_TRUSTED_PROXIES = 1
    assert throttle.client_ip(request) == "5.6.7.8"
    settings.CUTOUT_TRUSTED_PROXIES = 2
    assert throttle.client_ip(request) == "1.2.3.4"


def test_a_rule_at_zero_is_off(settings):
    settings.CUTOUT_AUTH_THROTTLE = {
        "login_email": (0, 900),
        "login_ip": (0, 900),
        "login_email_ip": (0, 900),
    }
    make_user("free@example.com")
    client = Client()
    for _ in range(30):
        assert login(client, "free@example.com", "guess").status_code == 200
    assert login(client, "free@example.com", PASSWORD).status_code == 302


def test_invitation_mails_per_user_are_limited(owner, settings, mailoutbox):
    settings.CUTOUT_AUTH_THROTTLE = {"invite_user": (2, 3600)}
    for n in range(3):
        owner.client.post(
            reverse("team_invite"), {"email": f"guest{n}@example.com", "role": "member"}
        )
    assert sorted(m.to[0] for m in mailoutbox) == ["guest0@example.com", "guest1@example.com"]
    page = owner.client.get(reverse("team")).content.decode()
    assert "Too many attempts" in page and "guest2@example.com" not in page
