"""Check that every workspace's credits add up.

For each workspace: balance == sum of its ledger, every entry's balance_after follows from the
one before, reserved == sum of its held reservations, 0 <= reserved <= balance, no held
reservation is past its expiry, and every captured reservation has its debit. Prints a report and
exits non-zero when anything is off.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Sum
from django.utils import timezone

from billing.models import CreditBalance, LedgerEntry, Reservation
from billing.services import reservations_expire


class Command(BaseCommand):
    help = "Audit credits: balances against the ledger and reservations; non-zero exit on problems."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--release-stale",
            action="store_true",
            help="First release held reservations past their expiry (as the scheduler would).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["release_stale"]:
            released = reservations_expire()
            self.stdout.write(f"Released {released} stale reservation(s) first.")
        problems = audit()
        balances = CreditBalance.objects.count()
        entries = LedgerEntry.objects.count()
        if problems:
            self.stdout.write(self.style.ERROR(f"{len(problems)} problem(s) found:"))
            for line in problems:
                self.stdout.write(f"  - {line}")
            raise CommandError(f"credits audit failed: {len(problems)} problem(s)")
        self.stdout.write(
            self.style.SUCCESS(
                f"Credits audit clean: {balances} workspace balance(s), {entries} ledger entries."
            )
        )


def audit() -> list[str]:
    """Every inconsistency found, as readable lines (empty: all good)."""
    problems: list[str] = []
    now = timezone.now()
    ledger: dict[int, int] = {
        row["workspace_id"]: int(row["total"] or 0)
        for row in LedgerEntry.objects.order_by()
        .values("workspace_id")
        .annotate(total=Sum("amount"))
    }
    held = {
        row["workspace_id"]: row["total"]
        for row in Reservation.objects.filter(status=Reservation.Status.HELD)
        .order_by()
        .values("workspace_id")
        .annotate(total=Sum("amount"))
    }
    rows = {
        row.workspace_id: row for row in CreditBalance.objects.select_related("workspace").all()
    }
    for ws_id in sorted((set(ledger) | set(held)) - set(rows)):
        problems.append(f"workspace {ws_id}: ledger entries or reservations but no balance row")
    for ws_id, row in sorted(rows.items()):
        name = f"workspace {ws_id} ({row.workspace.name})"
        total = ledger.get(ws_id, 0)
        if row.balance != total:
            problems.append(f"{name}: balance {row.balance} != ledger sum {total}")
        reserved = int(held.get(ws_id) or 0)
        if row.reserved != reserved:
            problems.append(f"{name}: reserved {row.reserved} != held reservations {reserved}")
        if row.reserved < 0 or row.reserved > row.balance:
            problems.append(f"{name}: reserved {row.reserved} outside 0..balance {row.balance}")
    # The running balance: each entry's balance_after = previous + amount, never negative.
    running: dict[int, int] = defaultdict(int)
    for ws_id, pk, amount, after in (
        LedgerEntry.objects.order_by("workspace_id", "id")
        .values_list("workspace_id", "id", "amount", "balance_after")
        .iterator(chunk_size=5000)
    ):
        running[ws_id] += amount
        if after != running[ws_id]:
            problems.append(
                f"workspace {ws_id}: entry {pk} says balance_after {after}, "
                f"running sum is {running[ws_id]}"
            )
            running[ws_id] = after  # report each break once, not every entry after it
        if after < 0:
            problems.append(f"workspace {ws_id}: entry {pk} leaves a negative balance {after}")
    for r in Reservation.objects.filter(status=Reservation.Status.HELD, expires_at__lt=now):
        problems.append(
            f"workspace {r.workspace_id}: reservation {r.pk} ({r.amount} credit) is stale: "
            f"held past its expiry {r.expires_at:%Y-%m-%d %H:%M:%S}"
        )
    for r in Reservation.objects.filter(
        status=Reservation.Status.CAPTURED, ledger_entry__isnull=True
    ):
        problems.append(f"workspace {r.workspace_id}: captured reservation {r.pk} has no debit")
    return problems
