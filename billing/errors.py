"""Billing errors. Each has a stable ``code`` the API dialects map to their own envelopes."""

from __future__ import annotations


class BillingError(Exception):
    code = "billing_error"
    default_message = "The credits operation failed."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InsufficientCredits(BillingError):
    code = "insufficient_credits"
    default_message = "Not enough credits: buy a credit pack to continue."

    def __init__(self, message: str | None = None, *, needed: int = 1, available: int = 0) -> None:
        self.needed = needed
        self.available = available
        super().__init__(message or f"Not enough credits: {needed} needed, {available} available.")


class MonthlyCapExceeded(BillingError):
    code = "monthly_cap_exceeded"
    default_message = "This API key has reached its monthly credit cap."

    def __init__(self, message: str | None = None, *, cap: int = 0, used: int = 0) -> None:
        self.cap = cap
        self.used = used
        super().__init__(
            message or f"This API key has reached its monthly cap of {cap} credits ({used} used)."
        )


class InvalidAmount(BillingError, ValueError):
    code = "invalid_amount"
    default_message = "Credit amounts must be positive whole numbers."


class IdempotencyConflict(BillingError):
    """The idempotency key was already used for a different operation or workspace."""

    code = "idempotency_conflict"
    default_message = "This idempotency key was already used for a different operation."


class ReservationReleased(BillingError):
    """A capture came after the reservation was released and the credits are gone meanwhile."""

    code = "reservation_released"
    default_message = "The credit reservation expired or was released before the work finished."


class NotRefundable(BillingError):
    code = "not_refundable"
    default_message = "Only debits that were not refunded yet can be refunded."


class BillingNotConfigured(BillingError):
    code = "billing_not_configured"
    default_message = "Billing is not configured on this server."


class CheckoutFailed(BillingError):
    code = "checkout_failed"
    default_message = "The payment provider could not start a checkout. Try again shortly."


class PurchaseNotAllowed(BillingError):
    code = "purchase_not_allowed"
    default_message = "You cannot buy credits for this workspace."


class TransferNotAllowed(BillingError):
    """Credits move only between two different workspaces that the person moving them owns."""

    code = "transfer_not_allowed"
    default_message = "Only an owner of both workspaces can move credits between them."
