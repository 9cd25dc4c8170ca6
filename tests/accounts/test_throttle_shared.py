"""Sign-in throttles count in a store every web process shares, per account and per client,
and never lock the right password out for a client that is not itself throttled (issue 17,
item 10)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import SESSION_KEY as AUTH_SESSION_KEY
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts import throttle
from tests.factories import PASSWORD, make_user

ROOT = Path(__file__).resolve().parents[2]


def login(email: str, password: str, ip: str) -> tuple[int, Client]:
    client = Client()
    response = client.post(
        reverse("login"), {"username": email, "password": password}, REMOTE_ADDR=ip
    )
    return response.status_code, client


@pytest.mark.django_db
def test_an_attacker_cannot_lock_the_owner_out(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    make_user("victim@example.com")
    for _ in range(30):
        login("victim@example.com", "guess", ip="198.51.100.66")
    # The guessing client is refused, even if it found the password...
    assert login("victim@example.com", PASSWORD, ip="198.51.100.66")[0] == 429
    # ...but the owner, from their own client, gets in at once.
    status, owner = login("victim@example.com", PASSWORD, ip="203.0.113.5")
    assert status == 302 and AUTH_SESSION_KEY in owner.session


@pytest.mark.django_db
def test_a_distributed_attack_on_one_account_gets_few_guesses_per_client(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CUTOUT_AUTH_THROTTLE = {"login_email": (20, 900), "login_email_ip_attacked": (3, 900)}
    make_user("target@example.com")
    for n in range(20):  # twenty clients, one guess each: the account is now under attack
        assert login("target@example.com", "guess", ip=f"192.0.2.{n}")[0] == 200
    fresh = "192.0.2.200"
    answers = [login("target@example.com", "guess", ip=fresh)[0] for _ in range(5)]
    assert answers == [200, 200, 200, 429, 429]  # three tries per new client, not ten
    assert login("target@example.com", PASSWORD, ip="192.0.2.250")[0] == 302  # the owner


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_every_process_counts_the_same_attempts(postgres: None, settings) -> None:
    """Failures counted by two other processes (two gunicorn workers) add up here."""
    settings.CUTOUT_AUTH_THROTTLE = {"login_email_ip": (10, 900)}
    email, ip = "shared@example.com", "198.51.100.9"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cutout.settings",
        "DATABASE_URL": _url_of_test_database(),
    }
    script = (
        "import django, sys; django.setup(); from accounts import throttle; "
        "[throttle.login_failed(sys.argv[1], sys.argv[2]) for _ in range(5)]"
    )
    for _worker in range(2):
        subprocess.run(
            [sys.executable, "-c", script, email, ip], cwd=ROOT, env=env, check=True, timeout=120
        )
    assert throttle.count("login_email_ip", f"{email}|{ip}") == 10
    assert throttle.login_wait(email, ip) > 0
    assert throttle.login_wait(email, "198.51.100.10") == 0  # another client is not throttled


def _url_of_test_database() -> str:
    conf = connection.settings_dict
    return (
        f"postgresql://{conf['USER']}:{conf['PASSWORD']}@{conf['HOST']}:{conf['PORT']}/"
        f"{conf['NAME']}"
    )
