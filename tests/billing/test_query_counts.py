"""Billing's list pages cost a fixed number of queries, for a few rows as for many.

Each page is counted twice, with the data grown in between (members, API keys, debits, refunds,
payments, reservations, Stripe events), so an N+1 on any list shows as a changed count.
"""

from __future__ import annotations

import itertools

import pytest
from django.test import Client
from django.urls import reverse

from accounts import services as accounts
from accounts.models import Role, User
from billing.models import CreditPack, Payment, StripeEvent
from billing.services import (
    credits_capture,
    credits_grant,
    credits_refund,
    credits_reserve,
)
from tests.factories import PASSWORD, Cast, client_in, make_cast, make_user

pytestmark = pytest.mark.django_db

_n = itertools.count()


def _grow(cast: Cast, rows: int) -> None:
    """``rows`` more of everything billing lists, in the team and in another workspace."""
    pack = CreditPack.objects.order_by("pk").first()
    for workspace, owner in ((cast.team, cast.owner.user), (cast.other_team, cast.outsider.user)):
        credits_grant(
            workspace=workspace, amount=4 * rows, reason="x", idempotency_key=f"g{next(_n)}"
        )
        for _ in range(rows):
            i = next(_n)
            user = make_user(f"m{i}@example.com")
            accounts.membership_add(workspace=workspace, user=user, role=Role.MEMBER)
            key, _secret = accounts.api_key_create(
                workspace=workspace, name=f"k{i}", created_by=owner
            )
            by_user = credits_reserve(workspace=workspace, user=user, idempotency_key=f"u{i}")
            by_key = credits_reserve(workspace=workspace, api_key=key, idempotency_key=f"k{i}")
            credits_refund(
                entry=credits_capture(reservation=by_user), reason="bad", actor_user=user
            )
            credits_capture(reservation=by_key)
            credits_reserve(workspace=workspace, user=user, idempotency_key=f"h{i}")  # held
            payment = Payment.objects.create(
                workspace=workspace,
                user=user,
                pack=pack,
                credits=100,
                amount=500,
                currency="usd",
                status=Payment.Status.PAID,
                checkout_url="https://pay.test/x",
                checkout_token=f"tok{i}",
                amount_paid=500,
            )
            StripeEvent.objects.create(
                stripe_id=f"evt_{i}",
                type="checkout.session.completed",
                payload={},
                payment=payment,
            )


def _count(client: Client, url: str, django_assert_num_queries, expected: int) -> bytes:
    with django_assert_num_queries(expected):
        response = client.get(url)
    assert response.status_code == 200
    return response.content


@pytest.fixture
def cast(db: None) -> Cast:
    return make_cast()


@pytest.fixture
def staff(cast: Cast) -> Client:
    user = User.objects.create_superuser(email="staff@example.com", password=PASSWORD)
    return client_in(user, accounts.workspace_ensure_personal(user=user))


# What each page costs: session, user and current membership (middleware), what the layout shows
# (the credits badge, the workspace switcher), then the page's own reads, the same for 2 rows as
# for 10 of everything. Billing adds the workspaces the person owns (the transfer form) and whether
# the workspace ever had credits; staff usage names workspaces with their owners (one query each
# for the rows and for the workspace menu).
PAGES = {
    "billing": (reverse("billing"), 17),
    "staff usage by workspace": (reverse("usage") + "?group=workspace", 13),
    "staff usage by user": (reverse("usage") + "?group=user", 12),
    "staff usage by key": (reverse("usage") + "?group=api_key", 12),
    "admin usage report": ("/admin/billing/usagereport/?group=api_key", 10),
    "admin ledger": ("/admin/billing/ledgerentry/", 10),
    "admin balances": ("/admin/billing/creditbalance/", 6),
    "admin reservations": ("/admin/billing/reservation/", 6),
    "admin payments": ("/admin/billing/payment/", 7),
    "admin stripe events": ("/admin/billing/stripeevent/", 7),
}


@pytest.mark.parametrize("page", PAGES)
def test_list_page_query_counts(cast: Cast, staff, django_assert_num_queries, page):
    client = cast.owner.client if page == "billing" else staff
    url, expected = PAGES[page]
    _grow(cast, 2)
    few = _count(client, url, django_assert_num_queries, expected)
    _grow(cast, 8)
    many = _count(client, url, django_assert_num_queries, expected)
    assert len(many) > len(few)  # the lists did grow
