from __future__ import annotations

import csv
import io
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey, Membership
from billing import context_processors
from billing.management.commands.credits_audit import Command
from billing.models import CreditBalance, LedgerEntry, Reservation
from billing.selectors import balance_for, usage_by, usage_daily, usage_totals
from billing.services import (
    credits_capture,
    credits_grant,
    credits_refund,
    credits_reserve,
)
from tests.factories import make_account, make_workspace


def audit() -> tuple[bool, str]:
    out = StringIO()
    try:
        call_command("credits_audit", stdout=out)
    except CommandError as exc:
        return False, out.getvalue() + str(exc)
    return True, out.getvalue()


def spend(workspace, n, *, user=None, api_key=None, prefix="c"):
    entries = []
    for i in range(n):
        r = credits_reserve(
            workspace=workspace, user=user, api_key=api_key, idempotency_key=f"{prefix}{i}"
        )
        entries.append(credits_capture(reservation=r))
    return entries


# ---------------------------------------------------------------------------------------------
# credits_audit


def test_audit_clean(workspace):
    credits_grant(workspace=workspace, amount=5, reason="x", idempotency_key="g")
    spend(workspace, 2)
    credits_reserve(workspace=workspace, idempotency_key="held")
    ok, report = audit()
    assert ok, report
    assert "Credits audit clean: 1 workspace balance(s), 3 ledger entries." in report


def test_audit_catches_a_balance_that_does_not_match_the_ledger(workspace):
    credits_grant(workspace=workspace, amount=5, reason="x", idempotency_key="g")
    CreditBalance.objects.filter(workspace=workspace).update(balance=7)
    ok, report = audit()
    assert not ok
    assert f"workspace {workspace.id} ({workspace.name}): balance 7 != ledger sum 5" in report
    assert "credits audit failed: 1 problem(s)" in report


def test_audit_catches_reserved_mismatch_and_stale_reservations(workspace):
    credits_grant(workspace=workspace, amount=5, reason="x", idempotency_key="g")
    credits_reserve(
        workspace=workspace,
        idempotency_key="old",
        expires_at=timezone.now() - timedelta(minutes=5),
    )
    ok, report = audit()
    assert not ok
    assert "is stale" in report
    CreditBalance.objects.filter(workspace=workspace).update(reserved=2)
    ok, report = audit()
    assert "reserved 2 != held reservations 1" in report
    CreditBalance.objects.filter(workspace=workspace).update(reserved=1)
    out = StringIO()
    call_command("credits_audit", "--release-stale", stdout=out)
    assert "Released 1 stale reservation(s) first." in out.getvalue()
    assert balance_for(workspace).reserved == 0


def test_audit_catches_a_broken_running_balance(workspace):
    credits_grant(workspace=workspace, amount=5, reason="x", idempotency_key="g")
    credits_grant(workspace=workspace, amount=5, reason="x", idempotency_key="g2")
    LedgerEntry.objects.filter(idempotency_key="g2").update(balance_after=11)
    ok, report = audit()
    assert not ok and "says balance_after 11, running sum is 10" in report


def test_audit_command_line_exits_non_zero(workspace, capsys, monkeypatch):
    """As ``manage.py credits_audit`` runs it: exit status 1 with the report, 0 when clean."""
    # run_from_argv closes connections at the end; keep the test's transaction open.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    credits_grant(workspace=workspace, amount=5, reason="x", idempotency_key="g")
    Command().run_from_argv(["manage.py", "credits_audit"])  # clean: returns normally
    CreditBalance.objects.filter(workspace=workspace).update(balance=6)
    with pytest.raises(SystemExit) as exc:
        Command().run_from_argv(["manage.py", "credits_audit"])
    assert exc.value.code == 1
    captured = capsys.readouterr()
    assert "balance 6 != ledger sum 5" in captured.out
    assert "credits audit failed" in captured.err


# ---------------------------------------------------------------------------------------------
# Usage selectors, the staff page, CSV, admin


@pytest.fixture
def usage_data(workspace, owner):
    other_user = make_account("second@example.com")
    Membership.objects.create(workspace=workspace, user=other_user, role="member")
    key = ApiKey.objects.create(workspace=workspace, name="Shop", prefix="shop1", secret_hash="x")
    other_ws = make_workspace("Beta", owner=other_user)
    credits_grant(workspace=workspace, amount=50, reason="x", idempotency_key="g1")
    credits_grant(workspace=other_ws, amount=50, reason="x", idempotency_key="g2")
    spend(workspace, 3, user=owner, prefix="a")
    spend(workspace, 2, api_key=key, prefix="b")
    debits = spend(other_ws, 4, user=other_user, prefix="c")
    credits_refund(entry=debits[0], reason="bad edge", actor_user=owner)
    # Two of them yesterday.
    yesterday = timezone.now() - timedelta(days=1)
    LedgerEntry.objects.filter(
        idempotency_key__in=[
            f"capture:{r.pk}" for r in Reservation.objects.filter(idempotency_key__in=["a0", "a1"])
        ]
    ).update(created_at=yesterday)
    return {"key": key, "other_ws": other_ws, "other_user": other_user}


def test_usage_by_workspace_user_key_and_day(usage_data, workspace, owner):
    today = timezone.localdate()
    start = today - timedelta(days=6)
    by_ws = {
        r.label: (r.credits, r.cutouts, r.refunded)
        for r in usage_by(group="workspace", start=start, end=today)
    }
    other = usage_data["other_ws"]
    # Staff tell workspaces apart (many are called "Personal"): name, owner and slug.
    assert by_ws == {
        f"{workspace.name} · {owner.email} ({workspace.slug})": (5, 5, 0),
        f"{other.name} · second@example.com ({other.slug})": (4, 4, 1),
    }
    by_user = {
        r.label: (r.credits, r.refunded) for r in usage_by(group="user", start=start, end=today)
    }
    # The refund counts against the user who made the debit, not the admin who refunded it.
    assert by_user == {
        "owner@example.com": (3, 0),
        "second@example.com": (4, 1),
        "(no user: API key or system)": (2, 0),
    }
    by_key = {r.label: r.credits for r in usage_by(group="api_key", start=start, end=today)}
    assert by_key == {f"Shop (shop1…) · {workspace.name}": 2, "(web app, no API key)": 7}
    days = dict(usage_daily(start=start, end=today))
    assert len(days) == 7 and days[today] == 7 and days[today - timedelta(days=1)] == 2
    assert sum(days.values()) == 9
    totals = usage_totals(start=start, end=today)
    assert (totals.credits, totals.cutouts, totals.refunded, totals.net) == (9, 9, 1, 8)
    assert totals.granted == 100
    only_today = usage_totals(start=today, end=today, workspace=workspace)
    assert only_today.credits == 3


def test_staff_usage_page_chart_filters_and_csv(client, usage_data, workspace, owner):
    client.force_login(owner)
    assert client.get(reverse("usage")).status_code == 302  # not staff: to the admin login
    owner.is_staff = True
    owner.save()
    page = client.get(reverse("usage"), {"group": "user"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in html and 'class="bar"' in html and "second@example.com" in html
    assert 'id="total-used">9<' in html
    page = client.get(reverse("usage"), {"group": "day", "workspace": workspace.id})
    assert 'id="total-used">5<' in page.content.decode()

    response = client.get(reverse("usage"), {"group": "workspace", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["Workspace", "id", "credits used", "cutouts", "refunded", "net"]
    assert rows[-1] == ["Total", "", "9", "9", "1", "8"]
    other = usage_data["other_ws"]
    assert {r[0] for r in rows[1:-1]} == {
        f"{workspace.name} · owner@example.com ({workspace.slug})",
        f"{other.name} · second@example.com ({other.slug})",
    }


def test_bad_filters_fall_back_to_defaults(client, usage_data, owner):
    owner.is_staff = True
    owner.save()
    client.force_login(owner)
    r = client.get(
        reverse("usage"), {"start": "nope", "end": "2020-13-45", "group": "x", "workspace": "y"}
    )
    assert r.status_code == 200


def test_admin_usage_report_and_read_only_ledger(client, usage_data, owner):
    owner.is_staff = owner.is_superuser = True
    owner.save()
    client.force_login(owner)
    r = client.get("/admin/billing/usagereport/", {"group": "api_key"})
    assert r.status_code == 200 and "Shop (shop1…)" in r.content.decode()
    assert "<svg" in r.content.decode()
    csv_r = client.get("/admin/billing/usagereport/", {"format": "csv"})
    assert csv_r["Content-Type"].startswith("text/csv")

    ledger = client.get("/admin/billing/ledgerentry/")
    assert ledger.status_code == 200
    assert "Totals for these entries" in ledger.content.decode()
    entry = LedgerEntry.objects.order_by("id")[0]
    assert client.get("/admin/billing/ledgerentry/add/").status_code == 403
    change = client.get(f"/admin/billing/ledgerentry/{entry.pk}/change/")
    assert (
        change.status_code == 200
        and b'type="submit"' not in change.content.split(b"<form")[-1][:0] + b""
    )
    assert (
        client.post(f"/admin/billing/ledgerentry/{entry.pk}/change/", {"amount": 999}).status_code
        == 403
    )
    assert (
        client.post(f"/admin/billing/ledgerentry/{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert LedgerEntry.objects.get(pk=entry.pk).amount == entry.amount


def test_admin_grant_writes_a_ledger_entry(client, workspace, owner):
    owner.is_staff = owner.is_superuser = True
    owner.save()
    client.force_login(owner)
    form = client.get("/admin/billing/creditbalance/grant/", {"workspace": workspace.id})
    assert form.status_code == 200
    token = form.context["form"].initial["token"]
    data = {"workspace": workspace.id, "amount": 40, "reason": "Support goodwill", "token": token}
    assert client.post("/admin/billing/creditbalance/grant/", data).status_code == 302
    assert (
        client.post("/admin/billing/creditbalance/grant/", data).status_code == 302
    )  # resubmitted
    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.amount, entry.reason, entry.actor_user) == (
        "grant",
        40,
        "Support goodwill",
        owner,
    )
    assert balance_for(workspace).balance == 40
    bad = client.post("/admin/billing/creditbalance/grant/", {**data, "amount": -5, "token": "t2"})
    assert bad.status_code == 200 and balance_for(workspace).balance == 40


def test_admin_refund_action(client, workspace, owner):
    owner.is_staff = owner.is_superuser = True
    owner.save()
    client.force_login(owner)
    credits_grant(workspace=workspace, amount=5, reason="x", idempotency_key="g")
    (debit,) = spend(workspace, 1)
    url = "/admin/billing/ledgerentry/"
    ask = client.post(url, {"action": "refund_debits", "_selected_action": [debit.pk]})
    assert ask.status_code == 200 and "Refund cutout debits" in ask.content.decode()
    done = client.post(
        url,
        {
            "action": "refund_debits",
            "_selected_action": [debit.pk],
            "apply": "1",
            "reason": "blurry edge",
        },
    )
    assert done.status_code == 302
    refund = LedgerEntry.objects.get(kind="refund")
    assert (
        refund.refund_of == debit and refund.reason == "blurry edge" and refund.actor_user == owner
    )
    assert balance_for(workspace).balance == 5
    client.post(
        url,
        {
            "action": "refund_debits",
            "_selected_action": [debit.pk],
            "apply": "1",
            "reason": "again",
        },
    )
    assert LedgerEntry.objects.filter(kind="refund").count() == 1


# ---------------------------------------------------------------------------------------------
# Billing page and the banner flag


def test_billing_page_shows_balance_history_and_chart(client, workspace, owner, settings):
    settings.CUTOUT_LOW_BALANCE_THRESHOLD = 5
    credits_grant(
        workspace=workspace, amount=7, reason="Welcome", kind="trial", idempotency_key="t"
    )
    spend(workspace, 3, user=owner)
    client.force_login(owner)
    html = client.get(reverse("billing")).content.decode()
    assert 'id="balance">4<' in html
    assert "running low" in html
    assert "Trial credits: Welcome" in html and "owner@example.com" in html
    assert '<svg class="usage-chart"' in html and 'data-value="3"' in html


def test_billing_page_requires_login(client, db):
    r = client.get(reverse("billing"))
    assert r.status_code == 302 and "login" in r["Location"]


def test_context_processor_flags_low_balance(workspace, settings):
    settings.CUTOUT_LOW_BALANCE_THRESHOLD = 5
    request = RequestFactory().get("/")
    assert context_processors.credits(request) == {
        "credits": None,
        "credits_low": False,
        "credits_fresh": False,
    }
    request.workspace = workspace  # type: ignore[attr-defined]
    ctx = context_processors.credits(request)
    assert bool(ctx["credits_low"]) is True
    credits_grant(workspace=workspace, amount=6, reason="x", idempotency_key="g")
    ctx = context_processors.credits(request)
    assert bool(ctx["credits_low"]) is False and ctx["credits"].balance == 6


def test_only_staff_allowed_to_write_the_ledger_move_credits(client, workspace, owner):
    """Staff status opens the admin; moving credits needs billing.add_ledgerentry (superusers
    have it). A support agent who may only look at the ledger can neither grant nor refund."""
    owner.is_staff = True
    owner.save()
    owner.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="billing",
            codename__in=["view_ledgerentry", "view_creditbalance", "view_reservation"],
        )
    )
    client.force_login(owner)
    credits_grant(workspace=workspace, amount=5, reason="x", idempotency_key="g")
    (debit,) = spend(workspace, 1)
    grant_url = "/admin/billing/creditbalance/grant/"
    assert client.get(grant_url).status_code == 403
    data = {"workspace": workspace.id, "amount": 1000, "reason": "me", "token": "tok-1"}
    assert client.post(grant_url, data).status_code == 403
    listing = client.get("/admin/billing/ledgerentry/")
    assert listing.status_code == 200 and "refund_debits" not in listing.content.decode()
    client.post(
        "/admin/billing/ledgerentry/",
        {"action": "refund_debits", "_selected_action": [debit.pk], "apply": "1", "reason": "me"},
    )
    balances = client.get("/admin/billing/creditbalance/").content.decode()
    assert "grant_credits" not in balances and grant_url not in balances
    assert LedgerEntry.objects.filter(kind__in=["grant", "refund"]).count() == 1  # the setup's
    assert balance_for(workspace).balance == 4

    owner.user_permissions.add(
        Permission.objects.get(content_type__app_label="billing", codename="add_ledgerentry")
    )
    assert grant_url in client.get("/admin/billing/creditbalance/").content.decode()
    assert client.post(grant_url, data).status_code == 302
    assert balance_for(workspace).balance == 1004
