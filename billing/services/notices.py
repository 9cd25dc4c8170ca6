"""The low-balance notice: one mail to a workspace's owners and admins per crossing.

A balance that falls to ``CUTOUT_LOW_BALANCE_THRESHOLD`` or below marks its row and sends the
notice once the transaction commits; a balance back above the threshold clears the mark, so the
next crossing notifies again. A notice that cannot be sent never breaks what triggered it.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import MANAGER_ROLES, Membership, Workspace
from billing.models import CreditBalance

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
