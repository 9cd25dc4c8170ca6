"""Every write to credits goes through these keyword-only services.

Locking order, always: the workspace's ``CreditBalance`` row first (``select_for_update``), then
the reservation or payment row. Each service runs in one ``transaction.atomic`` block, so a ledger
entry and the balance change it explains commit together or not at all.

Idempotency: every entry has a unique key. Calling a service again with a key it has seen returns
what the first call did (for the same workspace and operation) and changes nothing.

The rooms, in the direction they import each other:

- :mod:`~billing.services.notices`: the low-balance notice and its mail.
- :mod:`~billing.services.ledger`: the ledger entry writer; grants, debits, refunds of debits,
  transfers between two workspaces of one owner.
- :mod:`~billing.services.reservations`: reserve, capture, release (what paid work uses).
- :mod:`~billing.services.stripe`: Stripe Checkout and one handler per Stripe event kind.

Import the services from this package (``from billing.services import credits_reserve``).
"""

from billing.selectors import api_key_month_usage
from billing.services.ledger import (
    CREDIT_KINDS,
    DEBIT_KINDS,
    Kind,
    credits_debit,
    credits_grant,
    credits_refund,
    credits_transfer,
)
from billing.services.notices import low_balance_notice_send, receipt_send
from billing.services.reservations import (
    DEFAULT_RESERVATION_TTL,
    EXPIRED_REASON,
    credits_capture,
    credits_release,
    credits_release_held,
    credits_reserve,
    reservations_expire,
)
from billing.services.stripe import (
    EVENT_HANDLERS,
    checkout_start,
    purchase_permission_problem,
    stripe_event_receive,
)

__all__ = [
    "CREDIT_KINDS",
    "DEBIT_KINDS",
    "DEFAULT_RESERVATION_TTL",
    "EVENT_HANDLERS",
    "EXPIRED_REASON",
    "Kind",
    "api_key_month_usage",  # a read, kept here for old callers: use billing.selectors
    "checkout_start",
    "credits_capture",
    "credits_debit",
    "credits_grant",
    "credits_refund",
    "credits_release",
    "credits_release_held",
    "credits_reserve",
    "credits_transfer",
    "low_balance_notice_send",
    "purchase_permission_problem",
    "receipt_send",
    "reservations_expire",
    "stripe_event_receive",
]
