from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import ApiKey, Membership
from billing import errors
from billing.models import CreditBalance, LedgerEntry, Reservation
from billing.selectors import balance_for, reservations_held
from billing.services import (
    api_key_month_usage,
    credits_capture,
    credits_debit,
    credits_grant,
    credits_release,
    credits_release_held,
    credits_reserve,
    reservations_expire,
)
from cutout.models import Cutout, Job, JobItem
from tests.factories import make_account, make_workspace


def grant(workspace, amount, key="g"):
    return credits_grant(workspace=workspace, amount=amount, reason="test", idempotency_key=key)


def make_key(workspace, cap=None, prefix="abc"):
    return ApiKey.objects.create(
        workspace=workspace, name="k", prefix=prefix, secret_hash="x" * 64, monthly_cap=cap
    )


def test_reserve_holds_and_capture_debits(workspace, owner):
    grant(workspace, 2)
    r = credits_reserve(workspace=workspace, user=owner, idempotency_key="c1")
    assert r.status == Reservation.Status.HELD
    b = balance_for(workspace)
    assert (b.balance, b.reserved, b.available) == (2, 1, 1)

    entry = credits_capture(reservation=r)
    assert entry.kind == LedgerEntry.Kind.DEBIT and entry.amount == -1
    assert entry.balance_after == 1 and entry.actor_user == owner
    assert r.status == Reservation.Status.CAPTURED and r.ledger_entry_id == entry.pk
    b = balance_for(workspace)
    assert (b.balance, b.reserved, b.available) == (1, 0, 1)

    # A second capture and a late release change nothing.
    assert credits_capture(reservation=r).pk == entry.pk
    credits_release(reservation=r, reason="late failure")
    r.refresh_from_db()
    assert r.status == Reservation.Status.CAPTURED
    assert balance_for(workspace) == b
    assert LedgerEntry.objects.filter(kind="debit").count() == 1


def test_release_gives_the_credit_back_without_a_ledger_entry(workspace):
    grant(workspace, 1)
    r = credits_reserve(workspace=workspace, idempotency_key="c1")
    assert balance_for(workspace).available == 0
    credits_release(reservation=r, reason="engine failed")
    credits_release(reservation=r, reason="engine failed")  # idempotent
    r.refresh_from_db()
    assert r.status == Reservation.Status.RELEASED and r.release_reason == "engine failed"
    b = balance_for(workspace)
    assert (b.balance, b.reserved, b.available) == (1, 0, 1)
    assert LedgerEntry.objects.filter(kind="debit").count() == 0
    with pytest.raises(errors.ReservationReleased):
        credits_capture(reservation=r)
    assert balance_for(workspace).balance == 1


def test_reserve_refuses_when_nothing_is_available(workspace):
    grant(workspace, 1)
    credits_reserve(workspace=workspace, idempotency_key="a")
    with pytest.raises(errors.InsufficientCredits) as exc:
        credits_reserve(workspace=workspace, idempotency_key="b")
    assert exc.value.code == "insufficient_credits"
    assert exc.value.available == 0
    assert Reservation.objects.count() == 1


def test_reserve_with_no_balance_row_at_all(workspace):
    with pytest.raises(errors.InsufficientCredits):
        credits_reserve(workspace=workspace, idempotency_key="a")
    assert balance_for(workspace).balance == 0
    assert not Reservation.objects.exists()


def test_reserve_is_idempotent(workspace):
    grant(workspace, 5)
    a = credits_reserve(workspace=workspace, idempotency_key="same")
    b = credits_reserve(workspace=workspace, idempotency_key="same")
    assert a.pk == b.pk
    assert balance_for(workspace).reserved == 1


def test_reserve_key_from_another_workspace_is_a_conflict(workspace, owner):
    other = make_workspace("Other", owner=owner)
    grant(workspace, 5)
    grant(other, 5, key="g2")
    credits_reserve(workspace=workspace, idempotency_key="same")
    with pytest.raises(errors.IdempotencyConflict):
        credits_reserve(workspace=other, idempotency_key="same")
    assert balance_for(other).reserved == 0


def test_monthly_cap_counts_held_and_captured(workspace):
    grant(workspace, 10)
    key = make_key(workspace, cap=2)
    r1 = credits_reserve(workspace=workspace, api_key=key, idempotency_key="1")
    credits_capture(reservation=r1)
    r2 = credits_reserve(workspace=workspace, api_key=key, idempotency_key="2")
    with pytest.raises(errors.MonthlyCapExceeded) as exc:
        credits_reserve(workspace=workspace, api_key=key, idempotency_key="3")
    assert exc.value.code == "monthly_cap_exceeded" and exc.value.cap == 2
    assert api_key_month_usage(key) == 2
    # A released reservation frees its part of the cap.
    credits_release(reservation=r2, reason="failed")
    r3 = credits_reserve(workspace=workspace, api_key=key, idempotency_key="3")
    assert r3.status == "held"
    # The web app and other keys are not limited by this key's cap.
    credits_reserve(workspace=workspace, idempotency_key="web")
    credits_reserve(
        workspace=workspace, api_key=make_key(workspace, prefix="def"), idempotency_key="o"
    )
    assert balance_for(workspace).reserved == 3


def test_monthly_cap_resets_with_the_calendar_month(workspace):
    grant(workspace, 10)
    key = make_key(workspace, cap=1)
    r = credits_reserve(workspace=workspace, api_key=key, idempotency_key="1")
    credits_capture(reservation=r)
    last_month = timezone.now().replace(day=1) - timedelta(days=2)
    Reservation.objects.filter(pk=r.pk).update(created_at=last_month)
    assert api_key_month_usage(key) == 0
    assert credits_reserve(workspace=workspace, api_key=key, idempotency_key="2").status == "held"


def test_capture_links_cutout_and_key(workspace):
    grant(workspace, 3)
    key = make_key(workspace)
    r = credits_reserve(workspace=workspace, api_key=key, idempotency_key="1")
    entry = credits_capture(reservation=r)
    assert entry.actor_api_key == key
    assert entry.actor_display.startswith("API key")


def test_reservations_expire_releases_only_stale_held_ones(workspace):
    grant(workspace, 5)
    past = timezone.now() - timedelta(minutes=1)
    stale = credits_reserve(workspace=workspace, idempotency_key="stale", expires_at=past)
    fresh = credits_reserve(workspace=workspace, idempotency_key="fresh")
    done = credits_reserve(workspace=workspace, idempotency_key="done", expires_at=past)
    credits_capture(reservation=done)
    assert reservations_expire() == 1
    assert reservations_expire() == 0
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == "released" and stale.release_reason == "expired"
    assert fresh.status == "held"
    b = balance_for(workspace)
    assert (b.balance, b.reserved) == (4, 1)


def test_late_capture_after_expiry_charges_when_credits_remain(workspace):
    grant(workspace, 1)
    past = timezone.now() - timedelta(minutes=1)
    r = credits_reserve(workspace=workspace, idempotency_key="x", expires_at=past)
    reservations_expire()
    entry = credits_capture(reservation=r)
    assert entry.amount == -1
    b = balance_for(workspace)
    assert (b.balance, b.reserved) == (0, 0)


def test_late_capture_after_expiry_refused_when_credits_are_gone(workspace):
    grant(workspace, 1)
    past = timezone.now() - timedelta(minutes=1)
    r = credits_reserve(workspace=workspace, idempotency_key="x", expires_at=past)
    reservations_expire()
    other = credits_reserve(workspace=workspace, idempotency_key="y")
    credits_capture(reservation=other)
    with pytest.raises(errors.ReservationReleased):
        credits_capture(reservation=r)
    b = balance_for(workspace)
    assert (b.balance, b.reserved) == (0, 0)


def test_low_balance_notice_once_per_crossing(
    workspace, owner, settings, django_capture_on_commit_callbacks
):
    settings.CUTOUT_LOW_BALANCE_THRESHOLD = 2
    member = make_account("member@example.com")
    Membership.objects.create(workspace=workspace, user=member, role="member")
    grant(workspace, 4)

    def spend(key):
        with django_capture_on_commit_callbacks(execute=True):
            r = credits_reserve(workspace=workspace, idempotency_key=key)
            credits_capture(reservation=r)

    spend("a")  # 3 left: above the threshold
    assert len(mail.outbox) == 0
    spend("b")  # 2 left: crossed
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["owner@example.com"]  # managers only
    assert "2 credits left" in mail.outbox[0].body
    assert "/billing" in mail.outbox[0].body
    spend("c")  # 1 left: still low, no second mail
    assert len(mail.outbox) == 1
    assert CreditBalance.objects.get(workspace=workspace).low_balance_notified_at is not None

    with django_capture_on_commit_callbacks(execute=True):
        grant(workspace, 10, key="topup")  # 11: recovered, flag cleared
    assert CreditBalance.objects.get(workspace=workspace).low_balance_notified_at is None
    with django_capture_on_commit_callbacks(execute=True):
        credits_debit(
            workspace=workspace, amount=9, reason="adj", idempotency_key="adj", kind="adjustment"
        )
    assert len(mail.outbox) == 2  # the next crossing notifies again


def test_reservations_held_finds_and_releases_those_of_a_cutout_or_batch_item(workspace):
    """What cutouts and batches ask billing instead of querying its reservations."""
    grant(workspace, 5)
    cutout = Cutout.objects.create(workspace=workspace, input_sha256="0" * 64)
    item = JobItem.objects.create(job=Job.objects.create(workspace=workspace), position=0, name="a")
    held = credits_reserve(workspace=workspace, idempotency_key="a", cutout=cutout)
    captured = credits_reserve(workspace=workspace, idempotency_key="b", cutout=cutout)
    credits_capture(reservation=captured)
    for_item = credits_reserve(workspace=workspace, idempotency_key="c", job_item=item)
    unrelated = credits_reserve(workspace=workspace, idempotency_key="d")

    assert list(reservations_held(cutout=cutout)) == [held]
    assert list(reservations_held(job_item=item)) == [for_item]
    assert list(reservations_held(cutout=cutout, job_item=item)) == []
    with pytest.raises(ValueError):
        reservations_held()  # never "every held reservation" by accident

    assert credits_release_held(cutout=cutout, reason="abandoned") == 1
    assert credits_release_held(cutout=cutout, reason="abandoned") == 0  # nothing left to release
    held.refresh_from_db()
    captured.refresh_from_db()
    assert (held.status, held.release_reason) == (Reservation.Status.RELEASED, "abandoned")
    assert captured.status == Reservation.Status.CAPTURED
    assert credits_release_held(job_item=item, reason="interrupted attempt") == 1
    unrelated.refresh_from_db()
    assert unrelated.status == Reservation.Status.HELD
    b = balance_for(workspace)
    assert (b.balance, b.reserved) == (4, 1)


def test_credits_release_says_whether_it_released(workspace):
    grant(workspace, 2)
    r = credits_reserve(workspace=workspace, idempotency_key="r")
    assert credits_release(reservation=r, reason="failed") is True
    assert credits_release(reservation=r, reason="failed") is False
    c = credits_reserve(workspace=workspace, idempotency_key="c")
    credits_capture(reservation=c)
    assert credits_release(reservation=c, reason="late") is False
