"""Billing's mail: the low-balance notice and the receipt of a purchase.

The low-balance notice goes to a workspace's owners and admins once per crossing: a balance that
falls to ``CUTOUT_LOW_BALANCE_THRESHOLD`` or below marks its row and sends the notice once the
transaction commits; a balance back above the threshold clears the mark, so the next crossing
notifies again. The receipt goes to the buyer (or, without one, the managers) when a payment is
first credited. Both are text with an HTML alternative (``billing/email/``), sent from the mail
task (:mod:`cutout.mail`). A mail that cannot be sent never breaks what triggered it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import MANAGER_ROLES, Membership, Workspace
from billing.models import CreditBalance, Payment

logger = logging.getLogger(__name__)


def low_balance_note(row: CreditBalance, *, old_balance: int) -> list[str]:
    """Mark or clear ``row``'s notice for its new balance; returns the fields to save.

    Called by the ledger with the row locked, before it saves the row. A crossing schedules
    :func:`low_balance_notice_send` for after the commit.
    """
    threshold = settings.CUTOUT_LOW_BALANCE_THRESHOLD
    if row.balance > threshold and row.low_balance_notified_at is not None:
        row.low_balance_notified_at = None  # recovered: the next crossing notifies again
        return ["low_balance_notified_at"]
    if old_balance > threshold >= row.balance and row.low_balance_notified_at is None:
        row.low_balance_notified_at = timezone.now()
        workspace_id = row.workspace_id
        transaction.on_commit(lambda: low_balance_notice_send(workspace_id=workspace_id))
        return ["low_balance_notified_at"]
    return []


def low_balance_notice_send(*, workspace_id: int) -> int:
    """Email the workspace's owners and admins that credits are running low. Returns mails sent."""
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    row = CreditBalance.objects.filter(workspace_id=workspace_id).first()
    if workspace is None or row is None:
        return 0
    emails = _manager_emails(workspace_id)
    if not emails:
        return 0
    context = {
        "workspace": workspace,
        "balance": row.balance,
        "threshold": settings.CUTOUT_LOW_BALANCE_THRESHOLD,
        "url": _billing_url(),
    }
    return _send(template="low_balance", context=context, to=emails)


def receipt_send(*, payment_id: Any) -> int:
    """Mail the receipt of a paid purchase to its buyer (or the managers). Returns mails sent."""
    payment = Payment.objects.select_related("workspace", "user").filter(pk=payment_id).first()
    if payment is None or payment.paid_at is None:
        return 0
    buyer = payment.user
    emails = [buyer.email] if buyer is not None and buyer.email else None
    emails = emails or _manager_emails(payment.workspace_id)
    if not emails:
        return 0
    context = {
        "payment": payment,
        "workspace": payment.workspace,
        "paid_at": payment.paid_at,
        "url": _billing_url(),
    }
    return _send(template="receipt", context=context, to=emails)


def _manager_emails(workspace_id: int) -> list[str]:
    return sorted(
        set(
            Membership.objects.filter(
                workspace_id=workspace_id, role__in=MANAGER_ROLES, user__is_active=True
            ).values_list("user__email", flat=True)
        )
    )


def _billing_url() -> str:
    try:
        return settings.SITE_URL + reverse("billing")
    except NoReverseMatch:
        return settings.SITE_URL


def _send(*, template: str, context: dict[str, object], to: list[str]) -> int:
    subject = render_to_string(f"billing/email/{template}_subject.txt", context).strip()
    body = render_to_string(f"billing/email/{template}.txt", context)
    html = render_to_string(f"billing/email/{template}.html", context)
    try:
        return send_mail(subject, body, None, to, html_message=html)
    except Exception:  # a mail must never break the request that triggered it
        logger.warning("could not send the %s mail", template, exc_info=True)
        return 0
