"""The ledger: every entry is written here, with the balance change it explains.

``_locked_balance`` and ``_write_entry`` are the only code that moves a ``CreditBalance`` row;
reservations (:mod:`billing.services.reservations`) and Stripe refunds
(:mod:`billing.services.stripe`) write through them too. Grants, debits and refunds of debits are
the public services here, and transfers between two workspaces of one owner; each is idempotent
on its key (see :mod:`billing.services`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from accounts.models import Membership, Role
from billing import errors
from billing.models import CreditBalance, LedgerEntry, Payment
from billing.services.notices import low_balance_note

if TYPE_CHECKING:
    from accounts.models import ApiKey, User, Workspace
    from cutout.models import Cutout, Job

Kind = LedgerEntry.Kind
CREDIT_KINDS = (Kind.GRANT, Kind.TRIAL, Kind.PURCHASE, Kind.ADJUSTMENT, Kind.REFUND)
DEBIT_KINDS = (Kind.DEBIT, Kind.ADJUSTMENT, Kind.REFUND)


# ---------------------------------------------------------------------------------------------
# Internals shared by every service that moves credits


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise errors.InvalidAmount(
            f"Credit amounts must be positive whole numbers, got {amount!r}."
        )


def _check_key(idempotency_key: str) -> None:
    if not idempotency_key or len(idempotency_key) > 255:
        raise errors.IdempotencyConflict("An idempotency key of 1 to 255 characters is required.")


def _locked_balance(workspace_id: int) -> CreditBalance:
    """The workspace's balance row, locked for this transaction (created on first use)."""
    try:
        return CreditBalance.objects.select_for_update().get(workspace_id=workspace_id)
    except CreditBalance.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            CreditBalance.objects.create(workspace_id=workspace_id)
    except IntegrityError:
        pass  # created by a concurrent transaction in the meantime
    return CreditBalance.objects.select_for_update().get(workspace_id=workspace_id)


def _existing_entry(
    idempotency_key: str, *, workspace_id: int, kind: str, amount: int | None
) -> LedgerEntry | None:
    entry = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
    if entry is None:
        return None
    if entry.workspace_id != workspace_id or entry.kind != kind:
        raise errors.IdempotencyConflict()
    if amount is not None and entry.amount != amount:
        raise errors.IdempotencyConflict(
            f"Idempotency key {idempotency_key!r} was used for {entry.amount:+d} credits."
        )
    return entry


def _write_entry(
    row: CreditBalance,
    *,
    kind: str,
    amount: int,
    reason: str,
    idempotency_key: str,
    reserved_delta: int = 0,
    actor_user: User | None = None,
    actor_api_key: ApiKey | None = None,
    cutout: Cutout | None = None,
    job: Job | None = None,
    payment: Payment | None = None,
    refund_of: LedgerEntry | None = None,
    counterparty: Workspace | None = None,
) -> LedgerEntry:
    """Append one entry and move the (locked) balance row with it."""
    old_balance = row.balance
    new_balance = row.balance + amount
    new_reserved = row.reserved + reserved_delta
    if new_reserved < 0 or new_balance < new_reserved:
        raise errors.InsufficientCredits(
            needed=-amount, available=max(row.balance - max(new_reserved, 0), 0)
        )
    entry = LedgerEntry.objects.create(
        workspace_id=row.workspace_id,
        kind=kind,
        amount=amount,
        balance_after=new_balance,
        reason=reason[:255],
        actor_user=actor_user,
        actor_api_key=actor_api_key,
        cutout=cutout,
        job=job,
        payment=payment,
        refund_of=refund_of,
        counterparty=counterparty,
        idempotency_key=idempotency_key,
    )
    row.balance = new_balance
    row.reserved = new_reserved
    fields = ["balance", "reserved", "updated_at"]
    fields += low_balance_note(row, old_balance=old_balance)
    row.save(update_fields=fields)
    return entry


# ---------------------------------------------------------------------------------------------
# Adding and removing credits


def credits_grant(
    *,
    workspace: Workspace,
    amount: int,
    reason: str,
    kind: str = Kind.GRANT,
    actor_user: User | None = None,
    idempotency_key: str,
    payment: Payment | None = None,
) -> LedgerEntry:
    """Add ``amount`` credits. The same key returns the first entry and adds nothing."""
    _check_amount(amount)
    _check_key(idempotency_key)
    if kind not in CREDIT_KINDS:
        raise errors.InvalidAmount(f"{kind!r} is not a kind of entry that adds credits.")
    found = _existing_entry(idempotency_key, workspace_id=workspace.pk, kind=kind, amount=amount)
    if found is not None:
        return found
    with transaction.atomic():
        row = _locked_balance(workspace.pk)
        found = _existing_entry(
            idempotency_key, workspace_id=workspace.pk, kind=kind, amount=amount
        )
        if found is not None:
            return found
        return _write_entry(
            row,
            kind=kind,
            amount=amount,
            reason=reason,
            idempotency_key=idempotency_key,
            actor_user=actor_user,
            payment=payment,
        )


def credits_debit(
    *,
    workspace: Workspace,
    amount: int,
    reason: str,
    idempotency_key: str,
    kind: str = Kind.DEBIT,
    actor_user: User | None = None,
    actor_api_key: ApiKey | None = None,
    cutout: Cutout | None = None,
    job: Job | None = None,
) -> LedgerEntry:
    """Remove ``amount`` available credits at once (admin adjustments; cutouts use reserve).

    Raises :class:`~billing.errors.InsufficientCredits` when fewer are available.
    """
    _check_amount(amount)
    _check_key(idempotency_key)
    if kind not in DEBIT_KINDS:
        raise errors.InvalidAmount(f"{kind!r} is not a kind of entry that removes credits.")
    found = _existing_entry(idempotency_key, workspace_id=workspace.pk, kind=kind, amount=-amount)
    if found is not None:
        return found
    with transaction.atomic():
        row = _locked_balance(workspace.pk)
        found = _existing_entry(
            idempotency_key, workspace_id=workspace.pk, kind=kind, amount=-amount
        )
        if found is not None:
            return found
        if row.available < amount:
            raise errors.InsufficientCredits(needed=amount, available=row.available)
        return _write_entry(
            row,
            kind=kind,
            amount=-amount,
            reason=reason,
            idempotency_key=idempotency_key,
            actor_user=actor_user,
            actor_api_key=actor_api_key,
            cutout=cutout,
            job=job,
        )


def credits_refund(
    *, entry: LedgerEntry, reason: str, actor_user: User | None = None
) -> LedgerEntry:
    """Give back the credits of one debit (e.g. a cutout that came out wrong). Once per debit."""
    if entry.kind != Kind.DEBIT or entry.amount >= 0:
        raise errors.NotRefundable("Only cutout debits can be refunded.")
    key = f"refund:{entry.pk}"
    found = _existing_entry(key, workspace_id=entry.workspace_id, kind=Kind.REFUND, amount=None)
    if found is not None:
        return found
    with transaction.atomic():
        row = _locked_balance(entry.workspace_id)
        found = _existing_entry(key, workspace_id=entry.workspace_id, kind=Kind.REFUND, amount=None)
        if found is not None:
            return found
        return _write_entry(
            row,
            kind=Kind.REFUND,
            amount=-entry.amount,
            reason=reason or f"Refund of entry {entry.pk}",
            idempotency_key=key,
            actor_user=actor_user,
            cutout=entry.cutout,
            job=entry.job,
            refund_of=entry,
        )


# ---------------------------------------------------------------------------------------------
# Moving credits between workspaces


def _owns(user: User, workspace: Workspace) -> bool:
    return Membership.objects.filter(workspace=workspace, user=user, role=Role.OWNER).exists()


def credits_transfer(
    *,
    source: Workspace,
    target: Workspace,
    amount: int,
    actor_user: User,
    idempotency_key: str,
    note: str = "",
) -> tuple[LedgerEntry, LedgerEntry]:
    """Move ``amount`` available credits from ``source`` to ``target``: one transfer entry on
    each side (``-amount`` and ``+amount``, each naming the other workspace), in one transaction.

    ``actor_user`` must own both (:class:`~billing.errors.TransferNotAllowed` otherwise);
    :class:`~billing.errors.InsufficientCredits` when ``source`` has fewer available. Both
    balance rows are locked in the order of their workspace ids, whichever way the credits go,
    so two opposite transfers cannot deadlock. The same key returns the first pair, moving
    nothing more.
    """
    _check_amount(amount)
    _check_key(idempotency_key)
    if source.pk == target.pk or not (_owns(actor_user, source) and _owns(actor_user, target)):
        raise errors.TransferNotAllowed()
    keys = (f"{idempotency_key}:out", f"{idempotency_key}:in")
    found = _existing_transfer(keys, source=source, target=target, amount=amount)
    if found is not None:
        return found
    with transaction.atomic():
        rows = {pk: _locked_balance(pk) for pk in sorted((source.pk, target.pk))}
        found = _existing_transfer(keys, source=source, target=target, amount=amount)
        if found is not None:
            return found
        if rows[source.pk].available < amount:
            raise errors.InsufficientCredits(needed=amount, available=rows[source.pk].available)
        suffix = f": {note}" if note else ""
        out = _write_entry(
            rows[source.pk],
            kind=Kind.TRANSFER,
            amount=-amount,
            reason=f"To {target.name}{suffix}",
            idempotency_key=keys[0],
            actor_user=actor_user,
            counterparty=target,
        )
        into = _write_entry(
            rows[target.pk],
            kind=Kind.TRANSFER,
            amount=amount,
            reason=f"From {source.name}{suffix}",
            idempotency_key=keys[1],
            actor_user=actor_user,
            counterparty=source,
        )
    return out, into


def _existing_transfer(
    keys: tuple[str, str], *, source: Workspace, target: Workspace, amount: int
) -> tuple[LedgerEntry, LedgerEntry] | None:
    out = _existing_entry(keys[0], workspace_id=source.pk, kind=Kind.TRANSFER, amount=-amount)
    if out is None:
        return None
    into = _existing_entry(keys[1], workspace_id=target.pk, kind=Kind.TRANSFER, amount=amount)
    if into is None:  # written together or not at all; a half pair is someone else's key
        raise errors.IdempotencyConflict()
    return out, into
