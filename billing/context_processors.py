"""Template context: the current workspace's credits and the low-balance banner flag.

Add ``"billing.context_processors.credits"`` to the template context processors. Values are lazy:
pages that never show them run no query.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from billing.selectors import Balance, balance_for, has_credit_history


def credits(request: HttpRequest) -> dict[str, Any]:
    workspace = getattr(request, "workspace", None)
    if workspace is None:
        return {"credits": None, "credits_low": False, "credits_fresh": False}

    def load() -> Balance:
        return balance_for(workspace)

    balance: Any = SimpleLazyObject(load)

    def low() -> bool:
        return bool(balance.balance <= settings.CUTOUT_LOW_BALANCE_THRESHOLD)

    def fresh() -> bool:
        return not has_credit_history(workspace)

    # A new workspace that never had credits: its banner is a first step, not a warning.
    return {
        "credits": balance,
        "credits_low": SimpleLazyObject(low),
        "credits_fresh": SimpleLazyObject(fresh),
    }
