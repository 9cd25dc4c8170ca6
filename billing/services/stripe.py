"""Buying credit packs with Stripe Checkout, and the Stripe events that settle payments.

``checkout_start`` makes a pending :class:`~billing.models.Payment` and its Checkout Session.
``stripe_event_receive`` records each verified webhook event once and hands it to the one
handler for its kind (``EVENT_HANDLERS``): credits are added once per payment, whatever order or
how many times Stripe delivers; a refund takes back its share of them, never below what is
reserved.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from accounts.models import MANAGER_ROLES, Membership
from billing import errors, stripe_client
from billing.models import CreditPack, LedgerEntry, Payment, StripeEvent, format_money
from billing.services.ledger import Kind, _locked_balance, _write_entry, credits_grant
from billing.services.notices import receipt_send

if TYPE_CHECKING:
    from accounts.models import User, Workspace

logger = logging.getLogger(__name__)

Handled = tuple[str, Payment | None]  # the event's new status, and the payment it concerned


# ---------------------------------------------------------------------------------------------
# Checkout


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


# ---------------------------------------------------------------------------------------------
# Checkout Session events


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
    if payment.paid_at is None:  # the first time only: a redelivered event sends no second one
        payment_id = payment.pk
        transaction.on_commit(lambda: receipt_send(payment_id=payment_id))
    payment.paid_at = payment.paid_at or timezone.now()
    payment.error = ""
    payment.save(update_fields=["status", "paid_at", "error", "updated_at"])


def _set_status(payment: Payment, status: str, *, error: str | None = None) -> None:
    payment.status = status
    fields = ["status", "updated_at"]
    if error is not None:
        payment.error = error
        fields.append("error")
    payment.save(update_fields=fields)


def _on_session_completed(payment: Payment, session: dict[str, Any]) -> None:
    """Checkout finished but not paid yet (e.g. a bank debit): wait for async_payment_*."""
    if session.get("payment_status") == "unpaid" and payment.status == Payment.Status.PENDING:
        _set_status(payment, Payment.Status.PROCESSING)


def _on_async_payment_succeeded(payment: Payment, session: dict[str, Any]) -> None:
    _payment_credit(payment)


def _on_async_payment_failed(payment: Payment, session: dict[str, Any]) -> None:
    if payment.status in (Payment.Status.PENDING, Payment.Status.PROCESSING):
        _set_status(payment, Payment.Status.FAILED, error="The payment failed.")


def _on_session_expired(payment: Payment, session: dict[str, Any]) -> None:
    if payment.status == Payment.Status.PENDING:
        _set_status(payment, Payment.Status.EXPIRED)


SESSION_EVENTS: dict[str, Callable[[Payment, dict[str, Any]], None]] = {
    "checkout.session.completed": _on_session_completed,
    "checkout.session.async_payment_succeeded": _on_async_payment_succeeded,
    "checkout.session.async_payment_failed": _on_async_payment_failed,
    "checkout.session.expired": _on_session_expired,
}


def _session_event(event: dict[str, Any]) -> Handled:
    """Any Checkout Session event: find our payment, note what Stripe says, then its handler.

    A session Stripe reports as paid credits the payment whatever the event's kind.
    """
    session = _obj(event)
    payment = _locked_payment_for_session(session)
    if payment is None:
        return StripeEvent.Status.IGNORED, None
    payment.stripe_payment_intent_id = session.get("payment_intent") or ""
    if session.get("amount_total") is not None:
        payment.amount_paid = int(session["amount_total"])
    payment.save(update_fields=["stripe_payment_intent_id", "amount_paid", "updated_at"])
    if session.get("payment_status") == "paid":
        _payment_credit(payment)
    else:
        SESSION_EVENTS[event["type"]](payment, session)
    return StripeEvent.Status.PROCESSED, payment


# ---------------------------------------------------------------------------------------------
# Refunds


def _charge_refunded(event: dict[str, Any]) -> Handled:
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
    _take_back(payment, due - payment.credits_refunded - payment.credits_unrecovered)
    payment.save()
    return StripeEvent.Status.PROCESSED, payment


def _take_back(payment: Payment, due_now: int) -> None:
    """Remove up to ``due_now`` refunded credits; what was spent or reserved stays unrecovered."""
    if due_now <= 0:
        return
    row = _locked_balance(payment.workspace_id)
    take = min(due_now, max(row.available, 0))
    if take > 0:
        _write_entry(
            row,
            kind=Kind.REFUND,
            amount=-take,
            reason=f"Payment refunded ({format_money(payment.amount_refunded, payment.currency)})",
            idempotency_key=f"stripe-refund:{payment.pk}:{payment.amount_refunded}",
            payment=payment,
        )
    payment.credits_refunded += take
    payment.credits_unrecovered += due_now - take
    if due_now > take:
        payment.error = (
            f"{payment.credits_unrecovered} refunded credits were already spent or reserved "
            "and could not be taken back."
        )


# ---------------------------------------------------------------------------------------------
# Receiving events

EVENT_HANDLERS: dict[str, Callable[[dict[str, Any]], Handled]] = {
    **dict.fromkeys(SESSION_EVENTS, _session_event),
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
