"""Management commands: exact names, flags and outputs that deploy scripts rely on."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from accounts import selectors
from accounts.models import ApiKey, Membership, Role, User, Workspace
from billing.models import LedgerEntry
from billing.selectors import balance_for

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_user_prints_the_personal_slug(settings):
    settings.CUTOUT_TRIAL_CREDITS = 25
    out = run("create_user", "--email", "Ops@Example.com", "--password", "pw-for-ops-1")
    slug = out.strip()
    assert out == slug + "\n"
    workspace = Workspace.objects.get(slug=slug)
    user = User.objects.get(email="ops@example.com")
    assert workspace.kind == Workspace.Kind.PERSONAL
    assert Membership.objects.get(workspace=workspace).user == user
    assert authenticate(username="ops@example.com", password="pw-for-ops-1") == user
    assert balance_for(workspace).balance == 25
    with pytest.raises(CommandError, match="already exists"):
        run("create_user", "--email", "ops@example.com", "--password", "x")
    with pytest.raises(CommandError, match="not a valid email"):
        run("create_user", "--email", "nope", "--password", "x")


def test_create_workspace_and_add_member():
    run("create_user", "--email", "boss@example.com", "--password", "pw")
    run("create_user", "--email", "ed@example.com", "--password", "pw")
    slug = run("create_workspace", "--name", "Shop Editors", "--owner", "boss@example.com").strip()
    assert slug == "shop-editors"
    workspace = Workspace.objects.get(slug=slug)
    assert workspace.kind == Workspace.Kind.TEAM
    assert Membership.objects.get(workspace=workspace).role == Role.OWNER

    out = run("add_member", "--workspace", slug, "--email", "ed@example.com", "--role", "member")
    assert "ed@example.com added as member of shop-editors" in out
    run("add_member", "--workspace", slug, "--email", "ed@example.com", "--role", "admin")
    assert Membership.objects.get(workspace=workspace, user__email="ed@example.com").role == "admin"

    with pytest.raises(CommandError, match="at least one owner"):
        run("add_member", "--workspace", slug, "--email", "boss@example.com", "--role", "member")
    with pytest.raises(CommandError, match="No workspace"):
        run("add_member", "--workspace", "nope", "--email", "ed@example.com", "--role", "member")
    with pytest.raises(CommandError, match="No user"):
        run("add_member", "--workspace", slug, "--email", "ghost@example.com", "--role", "member")
    with pytest.raises(CommandError):
        run("add_member", "--workspace", slug, "--email", "ed@example.com", "--role", "king")
    with pytest.raises(CommandError, match="No user"):
        run("create_workspace", "--name", "X", "--owner", "ghost@example.com")


def test_create_api_key_prints_only_the_secret():
    slug = run("create_user", "--email", "k@example.com", "--password", "pw").strip()
    out = run("create_api_key", "--workspace", slug, "--name", "Deploy", "--monthly-cap", "300")
    secret = out.strip()
    assert out == secret + "\n" and secret.startswith("ck_")
    key = selectors.api_key_authenticate(secret)
    assert key is not None and key.workspace.slug == slug
    assert (key.name, key.monthly_cap, key.created_by) == ("Deploy", 300, None)
    secret2 = run("create_api_key", "--workspace", slug).strip()
    key2 = ApiKey.objects.get(prefix=secret2.split("_")[1])
    assert key2.monthly_cap is None and key2.name == "API key"
    with pytest.raises(CommandError):
        run("create_api_key", "--workspace", slug, "--monthly-cap", "-1")


def test_grant_credits_goes_through_the_ledger(settings):
    settings.CUTOUT_TRIAL_CREDITS = 0
    slug = run("create_user", "--email", "g@example.com", "--password", "pw").strip()
    workspace = Workspace.objects.get(slug=slug)
    out1 = run("grant_credits", "--workspace", slug, "--amount", "40", "--reason", "Support refund")
    out2 = run("grant_credits", "--workspace", slug, "--amount", "40", "--reason", "Support refund")
    assert "balance now 40" in out1 and "balance now 80" in out2
    assert balance_for(workspace).balance == 80
    entries = LedgerEntry.objects.filter(workspace=workspace)
    assert entries.count() == 2
    assert len({e.idempotency_key for e in entries}) == 2
    assert {e.reason for e in entries} == {"Support refund"}
    for amount in ("0", "-5"):
        with pytest.raises(CommandError):
            run("grant_credits", "--workspace", slug, "--amount", amount, "--reason", "x")
    assert balance_for(workspace).balance == 80


def test_create_demo_is_idempotent(settings):
    settings.CUTOUT_TRIAL_CREDITS = 25
    out = run("create_demo")
    assert "http://127.0.0.1:8000/" in out
    assert "demo@cutout.local" in out and "cutout-demo" in out
    out_again = run("create_demo")
    assert out_again == out
    user = User.objects.get(email="demo@cutout.local")
    assert user.email_verified
    assert authenticate(username="demo@cutout.local", password="cutout-demo") == user
    memberships = Membership.objects.filter(user=user).select_related("workspace")
    assert sorted((m.workspace.kind, m.workspace.name, m.role) for m in memberships) == [
        ("personal", "Personal", "owner"),
        ("team", "Demo Team", "owner"),
    ]
    for m in memberships:
        assert balance_for(m.workspace).balance == 25
        assert LedgerEntry.objects.filter(workspace=m.workspace).count() == 1
    # A changed password is put back.
    user.set_password("something else")
    user.save()
    run("create_demo")
    assert authenticate(username="demo@cutout.local", password="cutout-demo") is not None
    assert Workspace.objects.filter(name="Demo Team").count() == 1


def test_create_demo_refuses_production(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        run("create_demo")
    assert not User.objects.exists()
