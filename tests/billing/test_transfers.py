"""Moving credits between two workspaces of one owner: a pair of ledger entries, atomic,
idempotent, refused for anyone else, and free of deadlocks when two go opposite ways at once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Role, User, Workspace
from billing import errors
from billing.models import LedgerEntry
from billing.selectors import balance_for
from billing.services import credits_reserve, credits_transfer
from tests.billing.test_concurrency import run_concurrently
from tests.factories import add_member, grant, make_workspace


@pytest.fixture
def two(owner: User) -> tuple[Workspace, Workspace]:
    first = make_workspace("Personal", owner=owner, credits=10)
    second = make_workspace("Team", owner=owner)
    return first, second


@pytest.mark.django_db
def test_a_transfer_is_two_entries_that_name_each_other(
    owner: User, two: tuple[Workspace, Workspace]
) -> None:
    source, target = two
    out, into = credits_transfer(
        source=source, target=target, amount=4, actor_user=owner, idempotency_key="t-1"
    )
    assert (out.workspace_id, out.amount, out.kind) == (source.pk, -4, LedgerEntry.Kind.TRANSFER)
    assert (into.workspace_id, into.amount, into.kind) == (target.pk, 4, LedgerEntry.Kind.TRANSFER)
    assert out.counterparty == target and into.counterparty == source
    assert out.actor_user == owner == into.actor_user
    assert out.reason.startswith(f"To {target.name}") and into.reason == f"From {source.name}"
    assert (out.balance_after, into.balance_after) == (6, 4)
    assert balance_for(source).balance == 6 and balance_for(target).balance == 4
    # Back again, the other way.
    credits_transfer(
        source=target, target=source, amount=1, actor_user=owner, idempotency_key="t-2"
    )
    assert balance_for(source).balance == 7 and balance_for(target).balance == 3
    report = StringIO()
    call_command("credits_audit", stdout=report)  # raises on any inconsistency
    assert "Credits audit clean" in report.getvalue()


@pytest.mark.django_db
def test_the_same_key_moves_once(owner: User, two: tuple[Workspace, Workspace]) -> None:
    source, target = two
    first = credits_transfer(
        source=source, target=target, amount=3, actor_user=owner, idempotency_key="same"
    )
    again = credits_transfer(
        source=source, target=target, amount=3, actor_user=owner, idempotency_key="same"
    )
    assert [e.pk for e in first] == [e.pk for e in again]
    assert balance_for(source).balance == 7 and balance_for(target).balance == 3
    with pytest.raises(errors.IdempotencyConflict):
        credits_transfer(
            source=source, target=target, amount=5, actor_user=owner, idempotency_key="same"
        )


@pytest.mark.django_db
def test_refused_moves_change_nothing(owner: User, two: tuple[Workspace, Workspace]) -> None:
    source, target = two
    credits_reserve(workspace=source, amount=8, idempotency_key="held")
    with pytest.raises(errors.InsufficientCredits):  # 10 in the balance, only 2 available
        credits_transfer(
            source=source, target=target, amount=3, actor_user=owner, idempotency_key="k1"
        )
    with pytest.raises(errors.InvalidAmount):
        credits_transfer(
            source=source, target=target, amount=0, actor_user=owner, idempotency_key="k2"
        )
    with pytest.raises(errors.TransferNotAllowed):
        credits_transfer(
            source=source, target=source, amount=1, actor_user=owner, idempotency_key="k3"
        )
    admin = add_member(target, Role.ADMIN)
    add_member(source, Role.OWNER, user=admin)
    with pytest.raises(errors.TransferNotAllowed):  # owns the source, only admin of the target
        credits_transfer(
            source=source, target=target, amount=1, actor_user=admin, idempotency_key="k4"
        )
    outsider = make_workspace("Elsewhere", credits=5)
    with pytest.raises(errors.TransferNotAllowed):
        credits_transfer(
            source=outsider, target=target, amount=1, actor_user=owner, idempotency_key="k5"
        )
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.TRANSFER).exists()
    assert balance_for(source).balance == 10 and balance_for(target).balance == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_opposite_transfers_at_once_neither_deadlock_nor_lose_a_credit(owner: User) -> None:
    a = make_workspace("A", owner=owner, credits=50)
    b = make_workspace("B", owner=owner, credits=50)

    def work(i: int) -> str:
        source, target = (a, b) if i % 2 else (b, a)
        try:
            credits_transfer(
                source=source, target=target, amount=3, actor_user=owner, idempotency_key=f"x{i}"
            )
        except errors.InsufficientCredits:
            return "short"
        return "moved"

    outcomes = run_concurrently(12, work)
    assert outcomes == {"moved": 12}
    assert balance_for(a).balance + balance_for(b).balance == 100
    assert balance_for(a).balance == 50 == balance_for(b).balance  # six each way
    grant(a, 1)  # the rows are still consistent and writable
    assert balance_for(a).balance == 51


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_transfers_never_overdraw(owner: User) -> None:
    a = make_workspace("A", owner=owner, credits=10)
    b = make_workspace("B", owner=owner)

    def work(i: int) -> str:
        try:
            credits_transfer(
                source=a, target=b, amount=3, actor_user=owner, idempotency_key=f"o{i}"
            )
        except errors.InsufficientCredits:
            return "short"
        return "moved"

    outcomes = run_concurrently(6, work)
    assert outcomes == {"moved": 3, "short": 3}
    assert balance_for(a).balance == 1 and balance_for(b).balance == 9
