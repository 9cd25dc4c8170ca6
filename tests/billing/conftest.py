"""Billing fixtures: an owner and a workspace made straight from the models (no accounts
services; see tests.factories), a local fake Stripe and Stripe's webhook signing."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accounts.models import User, Workspace
from tests.factories import make_account, make_workspace


@pytest.fixture
def owner(db: None) -> User:
    return make_account("owner@example.com")


@pytest.fixture
def workspace(owner: User) -> Workspace:
    return make_workspace("Acme", owner=owner)


# ---------------------------------------------------------------------------------------------
# A local fake Stripe (localstripe + Checkout Sessions, see fake_stripe.py) and webhook signing

WEBHOOK_SECRET = "whsec_cutout_test_secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def fake_stripe() -> Iterator[str]:
    """Base URL of a localstripe server (with Checkout Sessions) running for this session."""
    port = _free_port()
    log = open(  # noqa: SIM115 - closed at teardown
        Path(tempfile.gettempdir()) / f"cutout-fake-stripe-{port}.log", "w"
    )
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("fake_stripe.py")), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"fake Stripe did not start; see {log.name}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def stripe_on(settings: Any, fake_stripe: str) -> str:
    """Billing configured against the fake Stripe; returns its base URL."""
    settings.STRIPE = {
        "secret_key": "sk_test_cutout",
        "webhook_secret": WEBHOOK_SECRET,
        "publishable_key": "pk_test_cutout",
        "api_base": fake_stripe,
    }
    return fake_stripe


def sign(payload: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header made with Stripe's scheme."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def stripe_event(event_type: str, obj: dict[str, Any], *, event_id: str | None = None) -> bytes:
    event = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2025-01-27.acacia",
        "created": int(time.time()),
        "livemode": False,
        "type": event_type,
        "data": {"object": obj},
    }
    return json.dumps(event).encode()
