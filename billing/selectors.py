"""Reads of credits that need care (no locks: for display and decisions that re-check later)."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import Workspace
from billing.models import CreditBalance


@dataclass(frozen=True)
class Balance:
    balance: int
    reserved: int
    available: int


def balance_for(workspace: Workspace | int) -> Balance:
    """The workspace's balance; zero for a workspace that never had credits."""
    workspace_id = workspace if isinstance(workspace, int) else workspace.pk
    row = (
        CreditBalance.objects.filter(workspace_id=workspace_id)
        .values_list("balance", "reserved")
        .first()
    )
    if row is None:
        return Balance(balance=0, reserved=0, available=0)
    return Balance(balance=row[0], reserved=row[1], available=row[0] - row[1])
