from __future__ import annotations

import pytest

from billing import errors
from billing.models import CreditBalance, LedgerEntry
from billing.selectors import balance_for
from billing.services import credits_debit, credits_grant, credits_refund


def test_grant_adds_credits_and_writes_one_entry(workspace, owner):
    entry = credits_grant(
        workspace=workspace,
        amount=25,
        reason="Trial credits",
        kind="trial",
        actor_user=owner,
        idempotency_key=f"trial:{workspace.id}",
    )
    assert entry.amount == 25
    assert entry.balance_after == 25
    assert entry.kind == LedgerEntry.Kind.TRIAL
    assert entry.actor_user == owner
    assert balance_for(workspace).balance == 25
    assert balance_for(workspace).available == 25


def test_grant_is_idempotent(workspace):
    first = credits_grant(workspace=workspace, amount=10, reason="x", idempotency_key="k1")
    second = credits_grant(workspace=workspace, amount=10, reason="x", idempotency_key="k1")
    assert first.pk == second.pk
    assert LedgerEntry.objects.filter(workspace=workspace).count() == 1
    assert CreditBalance.objects.get(workspace=workspace).balance == 10


def test_same_key_for_a_different_amount_is_a_conflict(workspace):
    credits_grant(workspace=workspace, amount=10, reason="x", idempotency_key="k1")
    with pytest.raises(errors.IdempotencyConflict):
        credits_grant(workspace=workspace, amount=11, reason="x", idempotency_key="k1")
    assert balance_for(workspace).balance == 10


@pytest.mark.parametrize("amount", [0, -3, 1.5, True, "4"])
def test_grant_refuses_bad_amounts(workspace, amount):
    with pytest.raises(errors.InvalidAmount):
        credits_grant(workspace=workspace, amount=amount, reason="x", idempotency_key="bad")
    assert not LedgerEntry.objects.exists()


def test_balance_for_unknown_workspace_is_zero(workspace):
    b = balance_for(workspace)
    assert (b.balance, b.reserved, b.available) == (0, 0, 0)


def test_debit_refuses_more_than_available(workspace):
    credits_grant(workspace=workspace, amount=3, reason="x", idempotency_key="g")
    with pytest.raises(errors.InsufficientCredits) as exc:
        credits_debit(workspace=workspace, amount=4, reason="y", idempotency_key="d")
    assert exc.value.code == "insufficient_credits"
    assert balance_for(workspace).balance == 3
    entry = credits_debit(
        workspace=workspace, amount=3, reason="y", idempotency_key="d", kind="adjustment"
    )
    assert entry.amount == -3 and entry.balance_after == 0


def test_ledger_entries_cannot_be_changed_or_deleted(workspace):
    entry = credits_grant(workspace=workspace, amount=3, reason="x", idempotency_key="g")
    entry.amount = 300
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()
    assert LedgerEntry.objects.get().amount == 3


def test_refund_of_a_debit_once(workspace, owner):
    credits_grant(workspace=workspace, amount=3, reason="x", idempotency_key="g")
    debit = credits_debit(workspace=workspace, amount=1, reason="cutout", idempotency_key="d")
    refund = credits_refund(entry=debit, reason="bad edge", actor_user=owner)
    again = credits_refund(entry=debit, reason="bad edge", actor_user=owner)
    assert refund.pk == again.pk
    assert refund.amount == 1 and refund.refund_of == debit
    assert balance_for(workspace).balance == 3
    with pytest.raises(errors.NotRefundable):
        credits_refund(entry=refund, reason="again")
