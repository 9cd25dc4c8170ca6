"""A new user buys credits in Chromium: Checkout on the fake Stripe, the signed webhook credits
the workspace, the balance rises and the usage chart shows the spend."""

from __future__ import annotations

import os
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connections
from django.utils import timezone

from accounts.models import Membership, Role, Workspace
from billing.models import CreditPack, LedgerEntry, Payment, StripeEvent
from billing.selectors import balance_for
from billing.services import credits_capture, credits_grant, credits_reserve
from tests.browser import LAUNCH_ARGS
from tests.factories import make_account

from .conftest import WEBHOOK_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def session_cookie(user) -> str:
    """A signed-in session for ``user`` (what the login page would set)."""
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    assert store.session_key
    return store.session_key


def test_buy_a_pack_and_see_balance_and_chart(
    live_server, chromium_path, artifacts_dir: Path, stripe_on: str, settings
):
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import expect, sync_playwright

    settings.CUTOUT_LOW_BALANCE_THRESHOLD = 5
    CreditPack.objects.get_or_create(
        credits=500, currency="usd", defaults={"name": "Standard", "price": 1900}
    )
    CreditPack.objects.get_or_create(
        credits=100, currency="usd", defaults={"name": "Starter", "price": 500, "sort_order": -1}
    )
    user = make_account("newbie@example.com", verified=True)
    workspace = Workspace.objects.create(
        name="Newbie's workspace", slug=f"newbie-{uuid.uuid4().hex[:6]}", kind="personal"
    )
    Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
    credits_grant(
        workspace=workspace,
        amount=25,
        reason="Welcome to Cutout",
        kind="trial",
        idempotency_key=f"trial:{workspace.id}",
    )
    # The fake Stripe delivers its events to this test's server, signed with our secret.
    requests.post(
        f"{stripe_on}/_config/webhooks/{uuid.uuid4().hex}",
        data={"url": f"{live_server.url}/billing/stripe/webhook", "secret": WEBHOOK_SECRET},
        timeout=5,
    ).raise_for_status()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True, args=LAUNCH_ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 1000})
        context.add_cookies(
            [{"name": "sessionid", "value": session_cookie(user), "url": live_server.url}]
        )
        page = context.new_page()
        try:
            page.goto(f"{live_server.url}/billing/")
            expect(page.locator("#balance")).to_have_text("25")
            page.screenshot(path=str(artifacts_dir / "billing-1-before.png"), full_page=True)

            page.get_by_role("button", name=re.compile(r"Buy 500 credits")).click()
            page.wait_for_url(re.compile(re.escape(stripe_on) + r"/_config/checkout/cs_test_"))
            expect(page.locator("#amount")).to_have_text("19.00 USD")
            page.screenshot(path=str(artifacts_dir / "billing-2-checkout.png"))

            page.locator("#pay").click()
            page.wait_for_url(re.compile(r"/billing/success\?session_id=cs_test_"))
            # The webhook comes a moment later; the page refreshes itself until it has.
            expect(page.locator("#credited")).to_have_text(
                "500 credits were added to your workspace.", timeout=20_000
            )
            expect(page.locator("#balance")).to_have_text("525")
            page.screenshot(path=str(artifacts_dir / "billing-3-success.png"))

            # Some cutouts get made (what the API would do), today and two days ago.
            for i in range(7):
                r = credits_reserve(workspace=workspace, user=user, idempotency_key=f"web-{i}")
                credits_capture(reservation=r)
            LedgerEntry.objects.filter(
                idempotency_key__in=[f"capture:{r.pk - k}" for k in range(3)]
            ).update(created_at=timezone.now() - timedelta(days=2))

            page.goto(f"{live_server.url}/billing/")
            expect(page.locator("#balance")).to_have_text("518")
            chart = page.locator("#usage-chart svg")
            expect(chart).to_be_visible()
            bars = chart.locator("rect.bar")
            expect(bars).to_have_count(30)
            values = [
                int(v or 0) for v in bars.evaluate_all("els => els.map(e => e.dataset.value)")
            ]
            assert sorted(v for v in values if v) == [3, 4]
            box = chart.bounding_box()
            assert box and box["width"] > 300 and box["height"] > 80
            expect(page.locator("#ledger")).to_contain_text("Bought 500 credits ($19.00)")
            expect(page.get_by_role("table").first).to_contain_text("Paid")
            page.screenshot(path=str(artifacts_dir / "billing-4-after.png"), full_page=True)

            # Staff see everyone's usage with the same chart.
            user.is_staff = True
            user.save()
            page.goto(f"{live_server.url}/staff/usage?group=user")
            expect(page.locator("#usage-table")).to_contain_text("newbie@example.com")
            expect(page.locator("#total-used")).to_have_text("7")
            page.screenshot(path=str(artifacts_dir / "billing-5-staff-usage.png"), full_page=True)
        finally:
            context.close()
            browser.close()
            # ORM calls inside playwright's greenlet got their own connection: close it here.
            connections.close_all()

    payment = Payment.objects.get()
    assert payment.status == Payment.Status.PAID and payment.credits == 500
    assert StripeEvent.objects.get().status == "processed"
    assert balance_for(workspace).balance == 518
