"""Races on PostgreSQL: real row locks, one connection per thread.

Skipped locally without PostgreSQL (DATABASE_URL); never skipped in CI.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import Client

from accounts.models import ApiKey
from billing import errors
from billing.models import CreditPack, LedgerEntry, Payment, Reservation, StripeEvent
from billing.selectors import balance_for
from billing.services import (
    checkout_start,
    credits_capture,
    credits_grant,
    credits_release,
    credits_reserve,
)

from .conftest import sign, stripe_event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_concurrently(n: int, work: Callable[[int], str]) -> Counter[str]:
    """Run ``work(i)`` in ``n`` threads released at the same moment; count the outcomes."""
    barrier = threading.Barrier(n)
    outcomes: list[str] = []
    lock = threading.Lock()

    def thread(i: int) -> None:
        try:
            barrier.wait()
            result = work(i)
        except Exception as exc:
            result = f"unexpected {type(exc).__name__}: {exc}"
        finally:
            connections.close_all()  # each thread's own connection
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    return Counter(outcomes)


def audit_clean() -> str:
    out = StringIO()
    call_command("credits_audit", stdout=out)  # raises CommandError when anything is off
    return out.getvalue()


def test_50_concurrent_charges_against_20_credits(postgres, workspace):
    credits_grant(workspace=workspace, amount=20, reason="test", idempotency_key="g")

    def charge(i: int) -> str:
        try:
            reservation = credits_reserve(workspace=workspace, idempotency_key=f"cutout-{i}")
        except errors.InsufficientCredits:
            return "refused"
        time.sleep(0.01)  # the "model work" between reserve and capture
        credits_capture(reservation=reservation)
        return "captured"

    started = time.monotonic()
    outcomes = run_concurrently(50, charge)
    elapsed = time.monotonic() - started
    assert outcomes == Counter({"captured": 20, "refused": 30}), outcomes
    b = balance_for(workspace)
    assert (b.balance, b.reserved, b.available) == (0, 0, 0)
    assert LedgerEntry.objects.filter(kind="debit").count() == 20
    assert Reservation.objects.filter(status="captured").count() == 20
    assert not Reservation.objects.exclude(status="captured").exists()
    assert "Credits audit clean" in audit_clean()
    print(f"50 concurrent reserve+capture against 20 credits: {elapsed:.2f}s")


def test_failing_operations_release_their_reservations(postgres, workspace):
    credits_grant(workspace=workspace, amount=20, reason="test", idempotency_key="g")

    def charge(i: int) -> str:
        try:
            reservation = credits_reserve(workspace=workspace, idempotency_key=f"cutout-{i}")
        except errors.InsufficientCredits:
            return "refused"
        if i % 3 == 0:  # the engine failed on this image
            credits_release(reservation=reservation, reason="engine failed")
            return "failed"
        credits_capture(reservation=reservation)
        return "captured"

    outcomes = run_concurrently(50, charge)
    assert set(outcomes) <= {"captured", "failed", "refused"}, outcomes
    assert sum(outcomes.values()) == 50
    captured = outcomes["captured"]
    b = balance_for(workspace)
    assert b.reserved == 0
    assert b.balance == 20 - captured >= 0
    assert Reservation.objects.filter(status="released").count() == outcomes["failed"]
    assert LedgerEntry.objects.filter(kind="debit").count() == captured
    assert "Credits audit clean" in audit_clean()


def test_monthly_cap_holds_under_concurrency(postgres, workspace):
    credits_grant(workspace=workspace, amount=100, reason="test", idempotency_key="g")
    key = ApiKey.objects.create(
        workspace=workspace, name="ci", prefix="capkey", secret_hash="x" * 64, monthly_cap=5
    )

    def charge(i: int) -> str:
        try:
            r = credits_reserve(workspace=workspace, api_key=key, idempotency_key=f"k-{i}")
        except errors.MonthlyCapExceeded:
            return "capped"
        credits_capture(reservation=r)
        return "captured"

    outcomes = run_concurrently(20, charge)
    assert outcomes == Counter({"captured": 5, "capped": 15}), outcomes
    assert balance_for(workspace).balance == 95
    assert "Credits audit clean" in audit_clean()


def test_same_idempotency_key_at_once_credits_once(postgres, workspace):
    def grant(i: int) -> str:
        entry = credits_grant(
            workspace=workspace,
            amount=25,
            reason="trial",
            kind="trial",
            idempotency_key=f"trial:{workspace.id}",
        )
        return str(entry.pk)

    outcomes = run_concurrently(10, grant)
    assert len(outcomes) == 1, outcomes  # every caller got the same entry
    assert balance_for(workspace).balance == 25

    def reserve(i: int) -> str:
        return str(credits_reserve(workspace=workspace, idempotency_key="one").pk)

    assert len(run_concurrently(10, reserve)) == 1
    assert balance_for(workspace).reserved == 1


def test_duplicate_webhook_deliveries_at_once_credit_once(postgres, workspace, owner, stripe_on):
    pack = CreditPack.objects.create(name="Standard", credits=500, price=1900, currency="usd")
    payment = checkout_start(
        workspace=workspace,
        user=owner,
        pack=pack,
        token="t",
        success_url="http://testserver/s?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://testserver/c",
    )
    session: dict[str, Any] = {
        "id": payment.stripe_checkout_session_id,
        "object": "checkout.session",
        "client_reference_id": str(payment.id),
        "metadata": {"workspace_id": str(workspace.id), "payment_id": str(payment.id)},
        "payment_status": "paid",
        "payment_intent": "pi_concurrent",
        "amount_total": payment.amount,
    }
    payload = stripe_event("checkout.session.completed", session, event_id="evt_dup")

    def deliver(i: int) -> str:
        r = Client().post(
            "/billing/stripe/webhook",
            data=payload,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=sign(payload),
        )
        return str(r.status_code)

    assert run_concurrently(8, deliver) == Counter({"200": 8})
    assert balance_for(workspace).balance == 500
    assert StripeEvent.objects.get().deliveries == 8
    assert Payment.objects.get().status == "paid"
    assert "Credits audit clean" in audit_clean()
