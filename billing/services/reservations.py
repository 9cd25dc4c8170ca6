"""Reserve, capture, release: how paid work is charged exactly once, and only when it succeeds.

Paid work first reserves its credits (``credits_reserve``: they are set aside, no ledger entry),
then either captures the reservation into one debit (``credits_capture``) when the work succeeded
or releases it (``credits_release``) when it did not. Reservations left held past their
``expires_at`` are released by ``reservations_expire`` (Celery beat). Other apps find and release
the reservations of a cutout or batch item with ``credits_release_held``, never by querying
:class:`~billing.models.Reservation` themselves.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey
from billing import errors, selectors
from billing.models import LedgerEntry, Reservation
from billing.services.ledger import Kind, _check_amount, _check_key, _locked_balance, _write_entry

if TYPE_CHECKING:
    from accounts.models import User, Workspace
    from cutout.models import Cutout, JobItem

logger = logging.getLogger(__name__)

EXPIRED_REASON = "expired"
DEFAULT_RESERVATION_TTL = timedelta(hours=1)


def _existing_reservation(idempotency_key: str, *, workspace: Workspace) -> Reservation | None:
    found = Reservation.objects.filter(idempotency_key=idempotency_key).first()
    if found is not None and found.workspace_id != workspace.pk:
        raise errors.IdempotencyConflict()
    return found


def _check_monthly_cap(api_key: ApiKey, amount: int) -> None:
    """Raise :class:`~billing.errors.MonthlyCapExceeded` if ``amount`` more would pass the cap."""
    cap = ApiKey.objects.filter(pk=api_key.pk).values_list("monthly_cap", flat=True).first()
    if cap is not None:
        used = selectors.api_key_month_usage(api_key)
        if used + amount > cap:
            raise errors.MonthlyCapExceeded(cap=cap, used=used)


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
    found = _existing_reservation(idempotency_key, workspace=workspace)
    if found is not None:
        return found
    with transaction.atomic():
        row = _locked_balance(workspace.pk)
        found = _existing_reservation(idempotency_key, workspace=workspace)
        if found is not None:
            return found
        if row.available < amount:
            raise errors.InsufficientCredits(needed=amount, available=row.available)
        if api_key is not None:
            _check_monthly_cap(api_key, amount)
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
            reason=_debit_reason(current),
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


def _debit_reason(reservation: Reservation) -> str:
    parts = []
    if reservation.job_item_id is not None:
        parts.append("batch job")
    if reservation.cutout_id is not None:
        parts.append(f"#{str(reservation.cutout_id)[:8]}")
    if reservation.api_key_id is not None:
        parts.append("API")
    return " ".join(parts)


def credits_release(*, reservation: Reservation, reason: str) -> bool:
    """Give a held reservation back; True when this call released it.

    Does nothing to one already captured or released (and returns False).
    """
    with transaction.atomic():
        row = _locked_balance(reservation.workspace_id)
        current = Reservation.objects.select_for_update().get(pk=reservation.pk)
        held = current.status == Reservation.Status.HELD
        if held:
            row.reserved -= current.amount
            row.save(update_fields=["reserved", "updated_at"])
            current.status = Reservation.Status.RELEASED
            current.released_at = timezone.now()
            current.release_reason = (reason or "released")[:255]
            current.save(update_fields=["status", "released_at", "release_reason"])
        _sync(reservation, current)
    return held


def credits_release_held(
    *, cutout: Cutout | None = None, job_item: JobItem | None = None, reason: str
) -> int:
    """Release every reservation still held for ``cutout`` or ``job_item``; returns how many.

    Each release locks and re-checks its row (see :func:`credits_release`), so a reservation
    captured meanwhile stays captured and is not counted.
    """
    held = selectors.reservations_held(cutout=cutout, job_item=job_item)
    return sum(credits_release(reservation=r, reason=reason) for r in held)


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
    released = sum(credits_release(reservation=r, reason=EXPIRED_REASON) for r in stale)
    if released:
        logger.info("released %d expired credit reservations", released)
    return released
