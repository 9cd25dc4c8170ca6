"""usage_series: what the workspace usage page charts (per member and API key, net of refunds)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts.models import ApiKey, Membership
from billing.charts import PALETTE
from billing.models import LedgerEntry
from billing.selectors import usage_series
from billing.services import credits_capture, credits_debit, credits_grant, credits_refund
from billing.services import credits_reserve as reserve
from tests.factories import make_account, make_workspace


def spend(workspace, n, *, days_ago=0, user=None, api_key=None, tag="s"):
    """``n`` captured cutout debits, dated ``days_ago`` days back."""
    entries = []
    for i in range(n):
        r = reserve(workspace=workspace, user=user, api_key=api_key, idempotency_key=f"{tag}{i}")
        entries.append(credits_capture(reservation=r))
    when = timezone.now() - timedelta(days=days_ago)
    LedgerEntry.objects.filter(pk__in=[e.pk for e in entries]).update(created_at=when)
    return entries


def test_members_keys_refunds_and_day_buckets(workspace, owner):
    tess = make_account("tess@example.com")
    Membership.objects.create(workspace=workspace, user=tess, role="member")
    key = ApiKey.objects.create(workspace=workspace, name="Shop", prefix="shop1", secret_hash="x")
    credits_grant(workspace=workspace, amount=100, reason="x", idempotency_key="g")
    today = timezone.localdate()
    start = today - timedelta(days=6)

    mine = spend(workspace, 3, user=owner, tag="o")
    spend(workspace, 1, user=owner, days_ago=2, tag="o2")
    spend(workspace, 2, user=tess, api_key=key, tag="k")  # made with a key: the key's
    spend(workspace, 1, user=tess, days_ago=1, tag="t")
    old = spend(workspace, 1, user=tess, days_ago=10, tag="t10")  # before the period
    spend(workspace, 1, tag="sys")  # no user, no key
    credits_refund(entry=mine[0], reason="bad edge", actor_user=tess)  # counts for the owner
    credits_refund(entry=old[0], reason="late", actor_user=owner)  # today, for a debit before
    credits_debit(
        workspace=workspace,
        amount=5,
        reason="chargeback",
        kind="refund",
        idempotency_key="cb",
        actor_user=owner,
    )  # a refund of no debit is not usage
    other = make_workspace("Beta", owner=owner)
    credits_grant(workspace=other, amount=5, reason="x", idempotency_key="g-other")
    spend(other, 2, user=owner, tag="b")

    series = usage_series(workspace=workspace, start=start, end=today)

    got = [(s.key, s.label, s.kind, s.values) for s in series]
    assert got == [
        (f"member-{owner.pk}", "owner@example.com", "member", [0, 0, 0, 0, 1, 0, 2]),
        (f"key-{key.pk}", "Shop (shop1…)", "key", [0, 0, 0, 0, 0, 0, 2]),
        ("member-0", "System", "member", [0, 0, 0, 0, 0, 0, 1]),
        # Tess's refunded old debit lands today: her day is 0, not -1.
        (f"member-{tess.pk}", "tess@example.com", "member", [0, 0, 0, 0, 0, 1, 0]),
    ]
    assert [s.colour for s in series] == list(PALETTE[:4])
    assert [s.total for s in series] == [3, 2, 1, 1]


def test_one_value_per_day_and_nothing_outside_the_period(workspace, owner):
    credits_grant(workspace=workspace, amount=10, reason="x", idempotency_key="g")
    spend(workspace, 2, user=owner, days_ago=3)
    today = timezone.localdate()
    week = usage_series(workspace=workspace, start=today - timedelta(days=6), end=today)
    assert [s.values for s in week] == [[0, 0, 0, 2, 0, 0, 0]]
    assert usage_series(workspace=workspace, start=today - timedelta(days=2), end=today) == []
    assert usage_series(workspace=workspace, start=today, end=today) == []
    only = usage_series(
        workspace=workspace, start=today - timedelta(days=3), end=today - timedelta(days=3)
    )
    assert [s.values for s in only] == [[2]]


def test_a_key_of_another_workspace_is_counted_but_not_named(workspace, owner):
    credits_grant(workspace=workspace, amount=10, reason="x", idempotency_key="g")
    key = ApiKey.objects.create(workspace=workspace, name="Old", prefix="old12", secret_hash="y")
    spend(workspace, 1, api_key=key)
    foreign = ApiKey.objects.create(
        workspace=make_workspace("Other"), name="Theirs", prefix="th123", secret_hash="z"
    )
    LedgerEntry.objects.filter(actor_api_key=key).update(actor_api_key=foreign)
    today = timezone.localdate()
    (series,) = usage_series(workspace=workspace, start=today, end=today)
    assert (series.key, series.label) == (f"key-{foreign.pk}", f"Key #{foreign.pk}")
