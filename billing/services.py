"""Every write to credits goes through these keyword-only services.

Locking order, always: the workspace's ``CreditBalance`` row first (``select_for_update``), then
the reservation or payment row. Each service runs in one ``transaction.atomic`` block, so a ledger
entry and the balance change it explains commit together or not at all.

Idempotency: every entry has a unique key. Calling a service again with a key it has seen returns
what the first call did (for the same workspace and operation) and changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import MANAGER_ROLES, ApiKey, Membership, Workspace
from billing import errors, stripe_client
from billing.models import (
    CreditBalance,
    CreditPack,
    LedgerEntry,
    Payment,
    Reservation,
    StripeEvent,
    format_money,
)

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


# ---------------------------------------------------------------------------------------------
# Buying credit packs with Stripe Checkout


def purchase_permission_problem(*, workspace: Workspace, user: User) -> str | None:
    """Why ``user`` may not buy credits for ``workspace`` (None: they may)."""
    if not user.is_authenticated:
        return "Sign in to buy credits."
    role = (
        Membership.objects.filter(workspace=workspace, user=user)
        .values_list("role", flat=True)
        .first()
    )
    if role not in MANAGER_ROLES:
        return "Only owners and admins of this workspace can buy credits."
    if not user.email_verified:
        return "Verify your email address before buying credits."
    return None


def checkout_start(
    *,
    workspace: Workspace,
    user: User,
    pack: CreditPack,
    token: str,
    success_url: str,
    cancel_url: str,
) -> Payment:
    """A pending payment with a Stripe Checkout Session to send the buyer to.

    ``token`` comes from the buy form: submitting the same form twice opens one checkout.
    Raises :class:`~billing.errors.BillingNotConfigured`, :class:`~billing.errors.PurchaseNotAllowed`
    or :class:`~billing.errors.CheckoutFailed` (nothing is charged in any of these cases).
    """
    if not stripe_client.is_configured():
        raise errors.BillingNotConfigured()
    problem = purchase_permission_problem(workspace=workspace, user=user)
    if problem:
        raise errors.PurchaseNotAllowed(problem)
    if not pack.active:
        raise errors.PurchaseNotAllowed("This credit pack is no longer sold.")
    if not token or len(token) > 64:
        raise errors.IdempotencyConflict("The buy form is missing its token; reload the page.")
    payment, created = Payment.objects.get_or_create(
        checkout_token=token,
        defaults={
            "workspace": workspace,
            "user": user,
            "pack": pack,
            "credits": pack.credits,
            "amount": pack.price,
            "currency": pack.currency,
        },
    )
    if not created and (payment.workspace_id != workspace.pk or payment.pack_id != pack.pk):
        raise errors.IdempotencyConflict("This buy form was already used; reload the page.")
    if payment.checkout_url:
        return payment  # the same form submitted again: the same checkout
    session = stripe_client.checkout_session_create(
        payment=payment,
        product_name=f"{pack.name}: {pack.credits:,} credits",
        success_url=success_url,
        cancel_url=cancel_url,
        email=user.email,
    )
    Payment.objects.filter(pk=payment.pk, stripe_checkout_session_id__isnull=True).update(
        stripe_checkout_session_id=session.id, checkout_url=session.url
    )
    payment.refresh_from_db()
    return payment


def _obj(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data") or {}
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise ValueError("The event has no data.object.")
    return obj


def _locked_payment_for_session(session: dict[str, Any]) -> Payment | None:
    payment = (
        Payment.objects.select_for_update()
        .filter(stripe_checkout_session_id=session.get("id"))
        .first()
    )
    if payment is not None:
        return payment
    # A session we created whose id we did not get to store (e.g. a crash right after creation).
    reference = session.get("client_reference_id") or ""
    metadata = session.get("metadata") or {}
    try:
        payment_id = uuid.UUID(str(reference or metadata.get("payment_id", "")))
    except ValueError:
        return None
    payment = Payment.objects.select_for_update().filter(pk=payment_id).first()
    if payment is None or str(payment.workspace_id) != str(metadata.get("workspace_id")):
        return None
    if payment.stripe_checkout_session_id not in (None, session.get("id")):
        return None
    payment.stripe_checkout_session_id = session.get("id")
    payment.save(update_fields=["stripe_checkout_session_id", "updated_at"])
    return payment


def _payment_credit(payment: Payment) -> None:
    """Add the payment's credits, once (the ledger key is unique per payment)."""
    credits_grant(
        workspace=payment.workspace,
        amount=payment.credits,
        reason=f"Bought {payment.credits:,} credits ({payment.amount_display})",
        kind=Kind.PURCHASE,
        actor_user=payment.user,
        idempotency_key=f"purchase:{payment.pk}",
        payment=payment,
    )
    if payment.status in (Payment.Status.PENDING, Payment.Status.PROCESSING, Payment.Status.FAILED):
        payment.status = Payment.Status.PAID
    payment.paid_at = payment.paid_at or timezone.now()
    payment.error = ""
    payment.save(update_fields=["status", "paid_at", "error", "updated_at"])


def _session_completed(event: dict[str, Any]) -> tuple[str, Payment | None]:
    session = _obj(event)
    payment = _locked_payment_for_session(session)
    if payment is None:
        return StripeEvent.Status.IGNORED, None
    payment.stripe_payment_intent_id = session.get("payment_intent") or ""
    if session.get("amount_total") is not None:
        payment.amount_paid = int(session["amount_total"])
    payment.save(update_fields=["stripe_payment_intent_id", "amount_paid", "updated_at"])
    paid = session.get("payment_status")
    if event["type"] == "checkout.session.async_payment_succeeded" or paid == "paid":
        _payment_credit(payment)
    elif event["type"] == "checkout.session.async_payment_failed":
        if payment.status in (Payment.Status.PENDING, Payment.Status.PROCESSING):
            payment.status = Payment.Status.FAILED
            payment.error = "The payment failed."
            payment.save(update_fields=["status", "error", "updated_at"])
    elif event["type"] == "checkout.session.expired":
        if payment.status == Payment.Status.PENDING:
            payment.status = Payment.Status.EXPIRED
            payment.save(update_fields=["status", "updated_at"])
    elif paid == "unpaid" and payment.status == Payment.Status.PENDING:
        payment.status = Payment.Status.PROCESSING  # e.g. a bank debit: wait for async_payment_*
        payment.save(update_fields=["status", "updated_at"])
    return StripeEvent.Status.PROCESSED, payment


def _charge_refunded(event: dict[str, Any]) -> tuple[str, Payment | None]:
    """Take back the refunded share of the credits, never below what is reserved."""
    charge = _obj(event)
    intent = charge.get("payment_intent") or ""
    payment = (
        Payment.objects.select_for_update().filter(stripe_payment_intent_id=intent).first()
        if intent
        else None
    )
    if payment is None:
        metadata = charge.get("metadata") or {}
        if not metadata.get("payment_id"):
            return StripeEvent.Status.IGNORED, None
        # Ours, but the checkout event has not been processed yet: fail so Stripe retries.
        raise LookupError(f"No payment known yet for payment intent {intent!r}.")
    paid = payment.amount_paid or payment.amount
    refunded = min(int(charge.get("amount_refunded") or 0), paid)
    if refunded <= payment.amount_refunded:
        return StripeEvent.Status.PROCESSED, payment  # nothing new (events may come out of order)
    payment.amount_refunded = refunded
    payment.status = (
        Payment.Status.REFUNDED if refunded >= paid else Payment.Status.PARTIALLY_REFUNDED
    )
    credited = LedgerEntry.objects.filter(payment=payment, kind=Kind.PURCHASE).exists()
    due = (payment.credits * refunded) // paid if credited else 0  # rounded in the buyer's favour
    due_now = due - payment.credits_refunded - payment.credits_unrecovered
    if due_now > 0:
        row = _locked_balance(payment.workspace_id)
        take = min(due_now, max(row.available, 0))
        if take > 0:
            _write_entry(
                row,
                kind=Kind.REFUND,
                amount=-take,
                reason=f"Payment refunded ({format_money(refunded, payment.currency)})",
                idempotency_key=f"stripe-refund:{payment.pk}:{refunded}",
                payment=payment,
            )
        payment.credits_refunded += take
        payment.credits_unrecovered += due_now - take
        if due_now > take:
            payment.error = (
                f"{payment.credits_unrecovered} refunded credits were already spent or reserved "
                "and could not be taken back."
            )
    payment.save()
    return StripeEvent.Status.PROCESSED, payment


EVENT_HANDLERS = {
    "checkout.session.completed": _session_completed,
    "checkout.session.async_payment_succeeded": _session_completed,
    "checkout.session.async_payment_failed": _session_completed,
    "checkout.session.expired": _session_completed,
    "charge.refunded": _charge_refunded,
}


def stripe_event_receive(*, event: dict[str, Any]) -> StripeEvent:
    """Record a verified Stripe event and act on it, in one transaction.

    A delivery of an event already processed (or ignored) is counted and changes nothing else.
    A failing handler rolls back its own work; the event is kept as ``failed`` with the error and
    is processed again on Stripe's next delivery.
    """
    with transaction.atomic():
        record, created = StripeEvent.objects.select_for_update().get_or_create(
            stripe_id=str(event["id"]),
            defaults={
                "type": str(event.get("type", ""))[:100],
                "livemode": bool(event.get("livemode")),
                "payload": event,
            },
        )
        if not created:
            record.deliveries += 1
            record.save(update_fields=["deliveries"])
            if record.status in (StripeEvent.Status.PROCESSED, StripeEvent.Status.IGNORED):
                return record
        handler = EVENT_HANDLERS.get(record.type)
        status: str
        payment: Payment | None
        try:
            with transaction.atomic():
                if handler is None:
                    status, payment = StripeEvent.Status.IGNORED, None
                else:
                    status, payment = handler(event)
        except Exception as exc:
            logger.exception("Stripe event %s (%s) failed", record.stripe_id, record.type)
            record.status = StripeEvent.Status.FAILED
            record.error = f"{type(exc).__name__}: {exc}"[:2000]
        else:
            record.status = status
            record.error = ""
            record.payment = payment
        record.processed_at = timezone.now()
        record.save(update_fields=["status", "error", "payment", "processed_at"])
        return record
