"""Checkout against a local fake Stripe; webhooks signed with Stripe's real scheme."""

from __future__ import annotations

import json
import time

import pytest
import requests
from django.urls import reverse

from accounts.models import Membership
from billing.models import CreditPack, LedgerEntry, Payment, StripeEvent
from billing.selectors import balance_for
from billing.services import checkout_start, credits_capture, credits_grant, credits_reserve
from billing.services import stripe as stripe_services
from tests.factories import make_account

from .conftest import WEBHOOK_SECRET, sign, stripe_event

WEBHOOK = "/billing/stripe/webhook"


@pytest.fixture
def pack(db):
    pack, _ = CreditPack.objects.get_or_create(  # seeded by the data migration
        credits=100, currency="usd", defaults={"name": "Starter", "price": 500}
    )
    return pack


def post_event(client, payload: bytes, signature: str | None = None):
    headers = {} if signature == "" else {"HTTP_STRIPE_SIGNATURE": signature or sign(payload)}
    return client.post(WEBHOOK, data=payload, content_type="application/json", **headers)


def start(workspace, owner, pack, token: str = "tok-1"):  # noqa: S107 - a form token
    return checkout_start(
        workspace=workspace,
        user=owner,
        pack=pack,
        token=token,
        success_url="http://testserver/billing/success?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://testserver/billing/cancel",
    )


def completed(payment: Payment, *, payment_status="paid", event_type="checkout.session.completed"):
    return {
        "id": payment.stripe_checkout_session_id,
        "object": "checkout.session",
        "mode": "payment",
        "amount_total": payment.amount,
        "currency": payment.currency,
        "client_reference_id": str(payment.id),
        "metadata": {
            "workspace_id": str(payment.workspace_id),
            "pack_id": str(payment.pack_id),
            "payment_id": str(payment.id),
        },
        "payment_intent": f"pi_{payment.id.hex[:20]}",
        "payment_status": payment_status,
        "status": "complete",
    }


def charge_refunded(payment: Payment, refunded: int, *, intent: str | None = None):
    return {
        "id": f"ch_{payment.id.hex[:20]}",
        "object": "charge",
        "amount": payment.amount,
        "amount_refunded": refunded,
        "currency": payment.currency,
        "payment_intent": intent or f"pi_{payment.id.hex[:20]}",
        "refunded": refunded >= payment.amount,
        "metadata": {"payment_id": str(payment.id)},
    }


def test_seeded_packs(db):
    packs = list(CreditPack.objects.filter(active=True).values_list("credits", "price", "currency"))
    assert [p[0] for p in packs] == [100, 500, 2000]
    assert all(price > 0 and currency == "usd" for _, price, currency in packs)
    # Bigger packs are cheaper per credit.
    per_credit = [price / credits for credits, price, _ in packs]
    assert per_credit == sorted(per_credit, reverse=True)


# ---------------------------------------------------------------------------------------------
# Billing off


def test_without_stripe_keys_the_site_runs_and_says_so(client, owner, workspace, settings):
    settings.STRIPE = {
        "secret_key": "",
        "webhook_secret": "",
        "publishable_key": "",
        "api_base": "",
    }
    client.force_login(owner)
    page = client.get(reverse("billing"))
    assert page.status_code == 200
    assert "Billing is not configured" in page.content.decode()
    assert b'action="/billing/checkout"' not in page.content
    pack = CreditPack.objects.create(name="Any", credits=10, price=100)
    r = client.post(reverse("billing_checkout"), {"pack": pack.pk, "token": "t"}, follow=True)
    assert "Billing is not configured" in r.content.decode()
    assert not Payment.objects.exists()
    assert client.post(WEBHOOK, data=b"{}", content_type="application/json").status_code == 404


# ---------------------------------------------------------------------------------------------
# Checkout


def test_checkout_creates_a_stripe_session_and_redirects(client, owner, workspace, pack, stripe_on):
    client.force_login(owner)
    page = client.get(reverse("billing")).content.decode()
    assert "Buy 100 credits" in page
    r = client.post(reverse("billing_checkout"), {"pack": pack.pk, "token": "form-1"})
    assert r.status_code == 303
    payment = Payment.objects.get()
    assert r["Location"] == payment.checkout_url
    assert payment.checkout_url.startswith(stripe_on)
    assert (payment.stripe_checkout_session_id or "").startswith("cs_test_")
    assert (payment.credits, payment.amount, payment.currency) == (100, pack.price, "usd")
    assert payment.status == Payment.Status.PENDING

    # What Stripe got: one line item at the pack's price, our references in metadata.
    session = requests.get(
        f"{stripe_on}/v1/checkout/sessions/{payment.stripe_checkout_session_id}",
        headers={"Authorization": "Bearer sk_test_cutout"},
        timeout=5,
    ).json()
    assert session["mode"] == "payment"
    assert session["amount_total"] == pack.price and session["currency"] == "usd"
    assert session["client_reference_id"] == str(payment.id)
    assert session["metadata"] == {
        "workspace_id": str(workspace.id),
        "pack_id": str(pack.id),
        "payment_id": str(payment.id),
    }
    assert session["success_url"].startswith("http://testserver/billing/success?session_id=")
    assert session["customer_email"] == owner.email

    # The same form submitted twice opens the same checkout.
    again = client.post(reverse("billing_checkout"), {"pack": pack.pk, "token": "form-1"})
    assert again["Location"] == payment.checkout_url
    assert Payment.objects.count() == 1


@pytest.mark.parametrize("problem", ["member", "unverified"])
def test_only_verified_managers_can_buy(client, workspace, pack, stripe_on, problem):
    user = make_account(verified=problem != "unverified")
    Membership.objects.create(
        workspace=workspace, user=user, role="member" if problem == "member" else "admin"
    )
    client.force_login(user)
    page = client.get(reverse("billing")).content.decode()
    expected = "Only owners and admins" if problem == "member" else "Verify your email"
    assert expected in page
    r = client.post(reverse("billing_checkout"), {"pack": pack.pk, "token": "x"}, follow=True)
    assert expected in r.content.decode()
    assert not Payment.objects.exists()


def test_checkout_refuses_inactive_packs(client, owner, workspace, pack, stripe_on):
    pack.active = False
    pack.save()
    client.force_login(owner)
    r = client.post(reverse("billing_checkout"), {"pack": pack.pk, "token": "x"})
    assert r.status_code == 404
    assert not Payment.objects.exists()


def test_checkout_with_a_tampered_pack_id_is_a_404_not_a_crash(client, owner, pack, stripe_on):
    client.force_login(owner)
    for bad in ("abc", "1.5", "", "9999999", "9" * 30, "١٢"):
        r = client.post(reverse("billing_checkout"), {"pack": bad, "token": "x"})
        assert r.status_code == 404, bad
    assert not Payment.objects.exists()


def test_checkout_stripe_down_is_a_clear_error(client, owner, workspace, pack, settings):
    settings.STRIPE = {
        "secret_key": "sk_test_x",
        "webhook_secret": WEBHOOK_SECRET,
        "publishable_key": "",
        "api_base": "http://127.0.0.1:9",  # nothing listens there
    }
    client.force_login(owner)
    r = client.post(reverse("billing_checkout"), {"pack": pack.pk, "token": "x"}, follow=True)
    assert "could not start a checkout" in r.content.decode()
    assert balance_for(workspace).balance == 0


# ---------------------------------------------------------------------------------------------
# Webhooks: verification


def test_paid_checkout_credits_once_even_when_delivered_twice(
    client, owner, workspace, pack, stripe_on
):
    payment = start(workspace, owner, pack)
    payload = stripe_event("checkout.session.completed", completed(payment), event_id="evt_1")
    r = post_event(client, payload)
    assert r.status_code == 200 and r.json()["status"] == "processed"
    assert balance_for(workspace).balance == 100
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID and payment.paid_at
    entry = LedgerEntry.objects.get(kind="purchase")
    assert entry.payment == payment and entry.amount == 100 and entry.actor_user == owner

    # Stripe retries: the same event, signed again later.
    r2 = post_event(client, payload, sign(payload, timestamp=int(time.time()) + 1))
    assert r2.status_code == 200
    event = StripeEvent.objects.get(stripe_id="evt_1")
    assert event.deliveries == 2 and event.status == "processed" and event.payment == payment
    # A different event for the same paid session does not credit again either.
    other = stripe_event("checkout.session.async_payment_succeeded", completed(payment))
    assert post_event(client, other).status_code == 200
    assert balance_for(workspace).balance == 100
    assert LedgerEntry.objects.filter(kind="purchase").count() == 1
    assert StripeEvent.objects.count() == 2


def test_forged_tampered_unsigned_and_replayed_webhooks_are_refused(
    client, owner, workspace, pack, stripe_on
):
    payment = start(workspace, owner, pack)
    payload = stripe_event("checkout.session.completed", completed(payment))
    forged = post_event(client, payload, sign(payload, secret="whsec_attacker"))
    assert forged.status_code == 400
    tampered = payload.replace(b'"paid"', b'"paid" ')
    assert post_event(client, tampered, sign(payload)).status_code == 400
    assert post_event(client, payload, "").status_code == 400
    assert post_event(client, payload, "t=1,v1=deadbeef").status_code == 400
    old = int(time.time()) - 3600  # a captured request replayed an hour later
    assert post_event(client, payload, sign(payload, timestamp=old)).status_code == 400
    assert post_event(client, b"not json", sign(b"not json")).status_code == 400
    assert not StripeEvent.objects.exists()
    assert balance_for(workspace).balance == 0
    assert client.get(WEBHOOK).status_code == 405


def test_unknown_events_are_recorded_and_ignored(client, stripe_on, db):
    payload = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})
    r = post_event(client, payload)
    assert r.status_code == 200 and r.json()["status"] == "ignored"
    assert StripeEvent.objects.get().type == "customer.created"


def test_a_session_we_did_not_create_is_ignored(client, stripe_on, db):
    session = {"id": "cs_test_other", "object": "checkout.session", "payment_status": "paid"}
    r = post_event(client, stripe_event("checkout.session.completed", session))
    assert r.json()["status"] == "ignored"
    assert not LedgerEntry.objects.exists()


def test_session_found_by_reference_when_its_id_was_not_stored(
    client, owner, workspace, pack, stripe_on
):
    payment = start(workspace, owner, pack)
    session = completed(payment)
    Payment.objects.filter(pk=payment.pk).update(stripe_checkout_session_id=None)
    assert (
        post_event(client, stripe_event("checkout.session.completed", session)).status_code == 200
    )
    assert balance_for(workspace).balance == 100
    # ... but not when the metadata names another workspace.
    p2 = start(workspace, owner, pack, token="tok-2")
    s2 = completed(p2)
    s2["metadata"]["workspace_id"] = "999999"
    Payment.objects.filter(pk=p2.pk).update(stripe_checkout_session_id=None)
    assert (
        post_event(client, stripe_event("checkout.session.completed", s2)).json()["status"]
        == "ignored"
    )
    assert balance_for(workspace).balance == 100


# ---------------------------------------------------------------------------------------------
# Webhooks: asynchronous payments


def test_async_payment_waits_then_credits(client, owner, workspace, pack, stripe_on):
    payment = start(workspace, owner, pack)
    post_event(
        client,
        stripe_event("checkout.session.completed", completed(payment, payment_status="unpaid")),
    )
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PROCESSING
    assert balance_for(workspace).balance == 0
    client.force_login(owner)
    page = client.get(
        reverse("billing_success"), {"session_id": payment.stripe_checkout_session_id}
    )
    assert "Waiting for the payment confirmation" in page.content.decode()
    assert b'http-equiv="refresh"' in page.content

    post_event(client, stripe_event("checkout.session.async_payment_succeeded", completed(payment)))
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID
    assert balance_for(workspace).balance == 100
    page = client.get(
        reverse("billing_success"), {"session_id": payment.stripe_checkout_session_id}
    )
    assert "100 credits were added" in page.content.decode()


def test_async_payment_failure_credits_nothing(client, owner, workspace, pack, stripe_on):
    payment = start(workspace, owner, pack)
    post_event(
        client,
        stripe_event("checkout.session.completed", completed(payment, payment_status="unpaid")),
    )
    post_event(
        client,
        stripe_event(
            "checkout.session.async_payment_failed", completed(payment, payment_status="unpaid")
        ),
    )
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert balance_for(workspace).balance == 0


# ---------------------------------------------------------------------------------------------
# Webhooks: refunds


def paid(client, workspace, owner, pack):
    payment = start(workspace, owner, pack)
    post_event(client, stripe_event("checkout.session.completed", completed(payment)))
    payment.refresh_from_db()
    return payment


def test_full_refund_removes_the_credits(client, owner, workspace, pack, stripe_on):
    payment = paid(client, workspace, owner, pack)
    payload = stripe_event("charge.refunded", charge_refunded(payment, payment.amount))
    assert post_event(client, payload).status_code == 200
    assert (
        post_event(client, payload, sign(payload, timestamp=int(time.time()) + 2)).status_code
        == 200
    )
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert (payment.credits_refunded, payment.credits_unrecovered) == (100, 0)
    assert balance_for(workspace).balance == 0
    refund = LedgerEntry.objects.get(kind="refund")
    assert refund.amount == -100 and refund.payment == payment


def test_partial_refunds_remove_their_share(client, owner, workspace, pack, stripe_on):
    payment = paid(client, workspace, owner, pack)  # 100 credits for pack.price
    half = payment.amount // 2
    post_event(client, stripe_event("charge.refunded", charge_refunded(payment, half)))
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PARTIALLY_REFUNDED
    assert payment.credits_refunded == 50
    assert balance_for(workspace).balance == 50
    # A later event carries the cumulative refunded amount: only the difference is removed.
    post_event(client, stripe_event("charge.refunded", charge_refunded(payment, payment.amount)))
    payment.refresh_from_db()
    assert payment.credits_refunded == 100 and payment.status == Payment.Status.REFUNDED
    assert balance_for(workspace).balance == 0
    # An older event arriving late changes nothing.
    post_event(client, stripe_event("charge.refunded", charge_refunded(payment, half)))
    assert balance_for(workspace).balance == 0
    assert LedgerEntry.objects.filter(kind="refund").count() == 2


def test_refund_never_takes_reserved_or_spent_credits(client, owner, workspace, pack, stripe_on):
    payment = paid(client, workspace, owner, pack)
    for i in range(70):  # spend 70 of the 100 credits
        credits_capture(reservation=credits_reserve(workspace=workspace, idempotency_key=f"c{i}"))
    held = credits_reserve(workspace=workspace, idempotency_key="in-flight")  # 1 held
    post_event(client, stripe_event("charge.refunded", charge_refunded(payment, payment.amount)))
    payment.refresh_from_db()
    b = balance_for(workspace)
    assert (b.balance, b.reserved, b.available) == (1, 1, 0)
    assert payment.credits_refunded == 29
    assert payment.credits_unrecovered == 71
    assert "could not be taken back" in payment.error
    # The held cutout can still be paid for.
    credits_capture(reservation=held)
    assert balance_for(workspace).balance == 0


def test_refund_before_the_payment_is_known_fails_and_is_retried(
    client, owner, workspace, pack, stripe_on
):
    payment = start(workspace, owner, pack)
    refund = stripe_event(
        "charge.refunded", charge_refunded(payment, payment.amount), event_id="evt_r"
    )
    r = post_event(client, refund)
    assert r.status_code == 500  # Stripe will deliver it again
    event = StripeEvent.objects.get(stripe_id="evt_r")
    assert event.status == "failed" and "No payment known" in event.error
    post_event(client, stripe_event("checkout.session.completed", completed(payment)))
    assert balance_for(workspace).balance == 100
    assert (
        post_event(client, refund, sign(refund, timestamp=int(time.time()) + 1)).status_code == 200
    )
    event.refresh_from_db()
    assert event.status == "processed" and event.deliveries == 2 and event.error == ""
    assert balance_for(workspace).balance == 0


def test_a_failing_handler_rolls_back_its_work(
    client, owner, workspace, pack, stripe_on, monkeypatch
):
    payment = start(workspace, owner, pack)

    def boom(_payment):
        credits_grant(workspace=workspace, amount=5, reason="half done", idempotency_key="half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(stripe_services, "_payment_credit", boom)
    r = post_event(client, stripe_event("checkout.session.completed", completed(payment)))
    assert r.status_code == 500
    event = StripeEvent.objects.get()
    assert event.status == "failed" and "disk full" in event.error
    assert not LedgerEntry.objects.exists()
    assert balance_for(workspace).balance == 0
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING


def test_event_payload_is_stored(client, owner, workspace, pack, stripe_on):
    payment = start(workspace, owner, pack)
    payload = stripe_event("checkout.session.completed", completed(payment), event_id="evt_store")
    post_event(client, payload)
    stored = StripeEvent.objects.get(stripe_id="evt_store")
    assert stored.payload == json.loads(payload)
    assert stored.type == "checkout.session.completed" and stored.processed_at
