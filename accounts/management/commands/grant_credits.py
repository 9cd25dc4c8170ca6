from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing import errors as billing_errors
from billing import services as billing

from ._helpers import workspace_by_slug


class Command(BaseCommand):
    help = "Grant credits to a workspace (a ledger entry through the billing service)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="Workspace slug.")
        parser.add_argument("--amount", required=True, type=int)
        parser.add_argument("--reason", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_by_slug(options["workspace"])
        amount = options["amount"]
        if amount <= 0:
            raise CommandError("--amount must be a positive whole number.")
        if not options["reason"].strip():
            raise CommandError("--reason must not be empty.")
        try:
            entry = billing.credits_grant(
                workspace=workspace,
                amount=amount,
                reason=options["reason"].strip(),
                kind="grant",
                idempotency_key=f"cli-grant:{uuid.uuid4()}",
            )
        except billing_errors.BillingError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"Granted {amount} credits to {workspace.slug}; balance now {entry.balance_after}."
        )
