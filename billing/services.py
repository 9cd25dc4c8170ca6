"""Every write to credits goes through these keyword-only services.

Locking order, always: the workspace's ``CreditBalance`` row first (``select_for_update``), then
the reservation or payment row. Each service runs in one ``transaction.atomic`` block, so a ledger
entry and the balance change it explains commit together or not at all.

Idempotency: every entry has a unique key. Calling a service again with a key it has seen returns
what the first call did (for the same workspace and operation) and changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import MANAGER_ROLES, ApiKey, Membership, Workspace
from billing import errors
from billing.models import CreditBalance, LedgerEntry, Payment, Reservation

if TYPE_CHECKING:
    from accounts.models import User
    from cutout.models import Cutout, Job, JobItem

logger = logging.getLogger(__name__)

Kind = LedgerEntry.Kind
EXPIRED_REASON = "expired"
DEFAULT_RESERVATION_TTL = timedelta(hours=1)
CREDIT_KINDS = (Kind.GRANT, Kind.TRIAL, Kind.PURCHASE, Kind.ADJUSTMENT, Kind.REFUND)
DEBIT_KINDS = (Kind.DEBIT, Kind.ADJUSTMENT, Kind.REFUND)


# ---------------------------------------------------------------------------------------------
# Internals


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
        idempotency_key=idempotency_key,
    )
    row.balance = new_balance
    row.reserved = new_reserved
    fields = ["balance", "reserved", "updated_at"]
    threshold = settings.CUTOUT_LOW_BALANCE_THRESHOLD
    if new_balance > threshold and row.low_balance_notified_at is not None:
        row.low_balance_notified_at = None  # recovered: the next crossing notifies again
        fields.append("low_balance_notified_at")
    elif old_balance > threshold >= new_balance and row.low_balance_notified_at is None:
        row.low_balance_notified_at = timezone.now()
        fields.append("low_balance_notified_at")
        workspace_id = row.workspace_id
        transaction.on_commit(lambda: low_balance_notice_send(workspace_id=workspace_id))
    row.save(update_fields=fields)
    return entry


def _month_start(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def api_key_month_usage(api_key: ApiKey, *, now: datetime | None = None) -> int:
    """Credits the key captured or holds this calendar month (what its monthly cap limits)."""
    start = _month_start(now or timezone.now())
    total = Reservation.objects.filter(
        api_key=api_key,
        status__in=(Reservation.Status.HELD, Reservation.Status.CAPTURED),
        created_at__gte=start,
    ).aggregate(total=Sum("amount"))["total"]
    return int(total or 0)


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
# Reserve, capture, release


def credits_reserve(
    *,
    workspace: Workspace,
    amount: int = 1,
    user: User | None = None,
    api_key: ApiKey | None = None,
    idempotency_key: str,
    cutout: Cutout | None = None,
    job_item: JobItem | None = None,
    expires_at: datetime | None = None,
) -> Reservation:
    """Set ``amount`` credits aside before doing paid work.

    Raises :class:`~billing.errors.InsufficientCredits` when fewer are available, or
    :class:`~billing.errors.MonthlyCapExceeded` when ``api_key`` would pass its monthly cap.
    The same key returns the existing reservation (whatever its status) and holds nothing more.
    """
    _check_amount(amount)
    _check_key(idempotency_key)
    if api_key is not None and api_key.workspace_id != workspace.pk:
        raise errors.IdempotencyConflict("The API key belongs to another workspace.")

    def existing() -> Reservation | None:
        found = Reservation.objects.filter(idempotency_key=idempotency_key).first()
        if found is not None and found.workspace_id != workspace.pk:
            raise errors.IdempotencyConflict()
        return found

    found = existing()
    if found is not None:
        return found
    with transaction.atomic():
        row = _locked_balance(workspace.pk)
        found = existing()
        if found is not None:
            return found
        if row.available < amount:
            raise errors.InsufficientCredits(needed=amount, available=row.available)
        if api_key is not None:
            cap = ApiKey.objects.filter(pk=api_key.pk).values_list("monthly_cap", flat=True).first()
            if cap is not None:
                used = api_key_month_usage(api_key)
                if used + amount > cap:
                    raise errors.MonthlyCapExceeded(cap=cap, used=used)
        reservation = Reservation.objects.create(
            workspace=workspace,
            amount=amount,
            user=user,
            api_key=api_key,
            cutout=cutout,
            job_item=job_item,
            idempotency_key=idempotency_key,
            expires_at=expires_at or timezone.now() + DEFAULT_RESERVATION_TTL,
        )
        row.reserved += amount
        row.save(update_fields=["reserved", "updated_at"])
    return reservation


def _sync(target: Reservation, source: Reservation) -> None:
    for field in ("status", "ledger_entry_id", "cutout_id", "captured_at", "released_at"):
        setattr(target, field, getattr(source, field))
    target.release_reason = source.release_reason


def credits_capture(*, reservation: Reservation, cutout: Cutout | None = None) -> LedgerEntry:
    """Turn a held reservation into a debit. A second capture returns the same entry.

    A reservation released because it expired is still charged if the credits are available
    (the work did finish); otherwise, and for any other release, raises
    :class:`~billing.errors.ReservationReleased`.
    """
    with transaction.atomic():
        row = _locked_balance(reservation.workspace_id)
        current = Reservation.objects.select_for_update().get(pk=reservation.pk)
        if current.status == Reservation.Status.CAPTURED:
            _sync(reservation, current)
            assert current.ledger_entry is not None
            return current.ledger_entry
        reserved_delta = -current.amount
        if current.status == Reservation.Status.RELEASED:
            if current.release_reason != EXPIRED_REASON or row.available < current.amount:
                raise errors.ReservationReleased()
            reserved_delta = 0
        if cutout is not None:
            current.cutout = cutout
        job = current.job_item.job if current.job_item is not None else None
        entry = _write_entry(
            row,
            kind=Kind.DEBIT,
            amount=-current.amount,
            reason="Cutout" if current.job_item_id is None else "Batch cutout",
            idempotency_key=f"capture:{current.pk}",
            reserved_delta=reserved_delta,
            actor_user=current.user,
            actor_api_key=current.api_key,
            cutout=current.cutout,
            job=job,
        )
        current.status = Reservation.Status.CAPTURED
        current.captured_at = timezone.now()
        current.ledger_entry = entry
        current.save(update_fields=["status", "captured_at", "ledger_entry", "cutout"])
        _sync(reservation, current)
        return entry


def credits_release(*, reservation: Reservation, reason: str) -> None:
    """Give a held reservation back. Does nothing to one already captured or released."""
    with transaction.atomic():
        row = _locked_balance(reservation.workspace_id)
        current = Reservation.objects.select_for_update().get(pk=reservation.pk)
        if current.status == Reservation.Status.HELD:
            row.reserved -= current.amount
            row.save(update_fields=["reserved", "updated_at"])
            current.status = Reservation.Status.RELEASED
            current.released_at = timezone.now()
            current.release_reason = (reason or "released")[:255]
            current.save(update_fields=["status", "released_at", "release_reason"])
        _sync(reservation, current)


def reservations_expire(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Release held reservations past their ``expires_at``; returns how many were released.

    Safe to run concurrently and often (Celery beat): each release locks and re-checks its row.
    """
    now = now or timezone.now()
    stale = list(
        Reservation.objects.filter(status=Reservation.Status.HELD, expires_at__lt=now).order_by(
            "expires_at"
        )[:limit]
    )
    released = 0
    for reservation in stale:
        credits_release(reservation=reservation, reason=EXPIRED_REASON)
        if reservation.status == Reservation.Status.RELEASED and reservation.released_at:
            released += reservation.release_reason == EXPIRED_REASON
    if released:
        logger.info("released %d expired credit reservations", released)
    return released


# ---------------------------------------------------------------------------------------------
# Notices


def low_balance_notice_send(*, workspace_id: int) -> int:
    """Email the workspace's owners and admins that credits are running low. Returns mails sent."""
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    row = CreditBalance.objects.filter(workspace_id=workspace_id).first()
    if workspace is None or row is None:
        return 0
    emails = sorted(
        set(
            Membership.objects.filter(
                workspace_id=workspace_id, role__in=MANAGER_ROLES, user__is_active=True
            ).values_list("user__email", flat=True)
        )
    )
    if not emails:
        return 0
    try:
        url = settings.SITE_URL + reverse("billing")
    except NoReverseMatch:
        url = settings.SITE_URL
    body = (
        f"The workspace “{workspace.name}” has {row.balance} credit"
        f"{'' if row.balance == 1 else 's'} left.\n\n"
        f"Each successful cutout uses one credit. Buy more credits here:\n{url}\n"
    )
    try:
        return send_mail(
            f"Cutout: {workspace.name} is running low on credits",
            body,
            None,
            emails,
        )
    except Exception:  # a notice must never break the request that triggered it
        logger.exception("could not send the low-balance notice for workspace %s", workspace_id)
        return 0
