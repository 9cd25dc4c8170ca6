"""Stripe webhook edge cases: timestamps out of tolerance either way, signed bodies that are not
an event object (issue 17, item 11). Each is a clean 400; nothing is recorded or credited."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from billing.models import StripeEvent

from .conftest import WEBHOOK_SECRET, sign, stripe_event

WEBHOOK = "/billing/stripe/webhook"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _stripe_configured(settings: Any) -> None:
    settings.STRIPE = {
        "secret_key": "sk_test_cutout",
        "webhook_secret": WEBHOOK_SECRET,
        "publishable_key": "",
        "api_base": "http://127.0.0.1:9",  # never called: webhooks are only verified
    }


def post(client, payload: bytes, signature: str):
    return client.post(
        WEBHOOK, data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )


def test_timestamps_out_of_tolerance_either_way_are_refused(client) -> None:
    payload = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})
    now = int(time.time())
    for offset in (3600, 330, -3600, -330):
        response = post(client, payload, sign(payload, timestamp=now + offset))
        assert response.status_code == 400, offset
        assert response.json() == {"error": "invalid signature"}
    assert not StripeEvent.objects.exists()
    # Within the tolerance (clocks a little apart) it is accepted, once.
    assert post(client, payload, sign(payload, timestamp=now + 60)).status_code == 200
    assert StripeEvent.objects.count() == 1


@pytest.mark.parametrize(
    "payload",
    [
        json.dumps([{"id": "evt_1", "type": "checkout.session.completed"}]).encode(),
        b"[" * 1000 + b"]" * 1000,
        b'{"id": "evt_2", "type": "x", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'"just a string"',
        b"\xff\xfe not utf-8",
    ],
    ids=["array", "deep-array", "deep-inside-an-event", "string", "not-utf8"],
)
def test_signed_bodies_that_are_not_an_event_are_a_400(client, payload: bytes) -> None:
    response = post(client, payload, sign(payload))
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()
