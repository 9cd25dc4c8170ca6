"""Credits, the append-only ledger, reservations and Stripe payments.

Rules the services in :mod:`billing.services` keep (and ``manage.py credits_audit`` checks):

* ``CreditBalance.balance`` always equals the sum of the workspace's ledger amounts, and
  ``CreditBalance.reserved`` the sum of its held reservations; ``0 <= reserved <= balance``.
* A balance row changes only under ``select_for_update`` in the same transaction that writes
  the ledger entry explaining the change.
* Every ledger entry carries a unique idempotency key, so a retried call never counts twice.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import ApiKey, Workspace


class CreditBalance(models.Model):
    """The running balance of one workspace. ``available = balance - reserved``."""

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, related_name="credit_balance"
    )
    balance = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    low_balance_notified_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when the low-balance notice went out; cleared when the balance recovers.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(reserved__gte=0), name="credit_balance_reserved_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(balance__gte=models.F("reserved")),
                name="credit_balance_covers_reserved",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workspace}: {self.balance} credits ({self.reserved} reserved)"

    @property
    def available(self) -> int:
        return self.balance - self.reserved


class CreditPack(models.Model):
    """A bundle of credits sold through Stripe Checkout."""

    name = models.CharField(max_length=60)
    credits = models.PositiveIntegerField()
    price = models.PositiveIntegerField(help_text="Price in minor units (cents), e.g. 900 = 9.00")
    currency = models.CharField(max_length=3, default="usd", help_text="ISO 4217, lower case")
    active = models.BooleanField(default=True)
    sort_order = models.IntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("sort_order", "credits")
        constraints = [
            models.CheckConstraint(condition=models.Q(credits__gt=0), name="credit_pack_credits"),
            models.CheckConstraint(condition=models.Q(price__gt=0), name="credit_pack_price"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.credits} credits, {self.price_display})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.currency = (self.currency or "").lower()
        super().save(*args, **kwargs)

    @property
    def price_display(self) -> str:
        return format_money(self.price, self.currency)


def format_money(minor: int, currency: str) -> str:
    symbols = {"usd": "$", "eur": "€", "gbp": "£"}
    amount = f"{minor // 100:,}.{minor % 100:02d}"
    symbol = symbols.get(currency.lower())
    return f"{symbol}{amount}" if symbol else f"{amount} {currency.upper()}"


class Payment(models.Model):
    """One purchase of a credit pack through a Stripe Checkout Session."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for checkout"
        PROCESSING = "processing", "Payment processing"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Checkout expired"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="payments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pack = models.ForeignKey(CreditPack, null=True, on_delete=models.SET_NULL, related_name="+")
    # What was sold, copied from the pack at checkout time (packs may change later).
    credits = models.PositiveIntegerField()
    amount = models.PositiveIntegerField(help_text="Price in minor units")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    checkout_token = models.CharField(
        max_length=64,
        unique=True,
        help_text="Form token: a double-submitted form opens one checkout",
    )
    stripe_checkout_session_id = models.CharField(
        max_length=255, unique=True, null=True, blank=True
    )
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    amount_paid = models.PositiveIntegerField(default=0)
    amount_refunded = models.PositiveIntegerField(default=0)
    credits_refunded = models.PositiveIntegerField(
        default=0, help_text="Credits taken back for refunds (removed from the balance)"
    )
    credits_unrecovered = models.PositiveIntegerField(
        default=0, help_text="Credits a refund should have removed but could not (already spent)"
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.credits} credits for {self.amount_display} ({self.status})"

    @property
    def amount_display(self) -> str:
        return format_money(self.amount, self.currency)


class LedgerEntry(models.Model):
    """One change of a workspace's credits. Rows are written once and never changed."""

    class Kind(models.TextChoices):
        GRANT = "grant", "Grant"
        TRIAL = "trial", "Trial credits"
        PURCHASE = "purchase", "Purchase"
        DEBIT = "debit", "Cutout"
        REFUND = "refund", "Refund"
        ADJUSTMENT = "adjustment", "Adjustment"
        TRANSFER = "transfer", "Transfer"  # between two workspaces: a pair of entries

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="ledger")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    amount = models.IntegerField(help_text="Signed: positive adds credits, negative removes them")
    balance_after = models.IntegerField()
    reason = models.CharField(max_length=255, blank=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="ledger_entries"
    )
    cutout = models.ForeignKey(
        "cutout.Cutout", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    job = models.ForeignKey(
        "cutout.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    refund_of = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refunded_by",
        help_text="The debit this entry gives back",
    )
    counterparty = models.ForeignKey(
        Workspace,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="A transfer's other workspace (where the credits went or came from)",
    )
    idempotency_key = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name_plural = "ledger entries"
        indexes = [
            models.Index(fields=("workspace", "created_at"), name="ledger_ws_created"),
            models.Index(fields=("kind", "created_at"), name="ledger_kind_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="ledger_amount_not_zero"),
            models.CheckConstraint(
                condition=models.Q(balance_after__gte=0), name="ledger_balance_after_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount:+d} → {self.balance_after}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("Ledger entries are append-only; write a new entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("Ledger entries are append-only and cannot be deleted.")

    @property
    def actor_display(self) -> str:
        if self.actor_api_key_id:
            return f"API key {self.actor_api_key}"
        if self.actor_user_id:
            return str(self.actor_user)
        return "system"


class Reservation(models.Model):
    """Credits set aside before work starts; captured on success, released on failure."""

    class Status(models.TextChoices):
        HELD = "held", "Held"
        CAPTURED = "captured", "Captured"
        RELEASED = "released", "Released"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="reservations")
    amount = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.HELD)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="reservations"
    )
    cutout = models.ForeignKey(
        "cutout.Cutout", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    job_item = models.ForeignKey(
        "cutout.JobItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    idempotency_key = models.CharField(max_length=255, unique=True)
    ledger_entry = models.OneToOneField(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="reservation"
    )
    release_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(db_index=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [
            models.Index(fields=("workspace", "status"), name="reservation_ws_status"),
            models.Index(fields=("api_key", "created_at"), name="reservation_key_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="reservation_amount"),
        ]

    def __str__(self) -> str:
        return f"Reservation of {self.amount} ({self.status})"


class StripeEvent(models.Model):
    """Every webhook event Stripe delivered, stored once by its Stripe id."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    deliveries = models.PositiveIntegerField(default=1)
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-received_at",)

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id} ({self.status})"


class UsageReport(LedgerEntry):
    """Admin entry point for the usage report (a proxy: no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "usage report"
        verbose_name_plural = "usage report"
