"""A new user's path in Chromium: sign up, create a team, invite someone, they accept, switch."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.db import connections

from accounts.models import Membership, Role, User
from tests.browser import LAUNCH_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long enough browser phrase"
INVITE_LINK = re.compile(r"https?://\S+/invitations/\S+/")


def _shot(page, artifacts_dir: Path, name: str) -> None:
    page.screenshot(path=str(artifacts_dir / f"accounts-{name}.png"), full_page=True)


def test_signup_team_invite_accept_switch(
    live_server, chromium_path, artifacts_dir, mailoutbox, monkeypatch, settings
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.CUTOUT_TRIAL_CREDITS = 25
    from playwright.sync_api import expect, sync_playwright

    base = live_server.url
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True, args=LAUNCH_ARGS)
        try:
            owner = browser.new_context(viewport={"width": 1200, "height": 800}).new_page()

            # 1. Sign up.
            owner.goto(f"{base}/signup/")
            owner.get_by_label("Email address").fill("olivia@example.com")
            owner.get_by_label(re.compile(r"^Password:?$")).fill(PASSWORD)
            owner.get_by_label("Password (again)").fill(PASSWORD)
            _shot(owner, artifacts_dir, "01-signup")
            owner.get_by_role("button", name="Create account").click()
            owner.wait_for_url(f"{base}/app/")
            expect(owner.get_by_text("Welcome to Cutout!")).to_be_visible()
            olivia = User.objects.get(email="olivia@example.com")
            assert not olivia.email_verified
            assert any("Confirm your email" in m.subject for m in mailoutbox)

            # 2. Create a team: it becomes the current workspace.
            owner.goto(f"{base}/workspaces/")
            owner.get_by_label("Team name").fill("Acme Studio")
            owner.get_by_role("button", name="Create team").click()
            owner.wait_for_url(f"{base}/team/")
            expect(owner.get_by_role("heading", name="Acme Studio: members")).to_be_visible()

            # 3. Invite a second person, who has no account yet.
            owner.get_by_label("Email address").fill("bob@example.com")
            owner.get_by_label(re.compile(r"^Role:?$")).select_option("member")
            owner.get_by_role("button", name="Send invitation").click()
            expect(owner.get_by_text("Invitation sent to bob@example.com")).to_be_visible()
            expect(owner.get_by_role("cell", name="bob@example.com", exact=True)).to_be_visible()
            _shot(owner, artifacts_dir, "02-team-invited")

            invitation = [m for m in mailoutbox if m.to == ["bob@example.com"]]
            assert len(invitation) == 1
            link = INVITE_LINK.search(invitation[0].body)
            assert link and link.group(0).startswith(base)

            # 4. Bob opens the link in his own browser, signs up from it and lands in the team.
            bob = browser.new_context(viewport={"width": 1200, "height": 800}).new_page()
            bob.goto(link.group(0))
            expect(bob.get_by_role("heading", name="Join Acme Studio")).to_be_visible()
            _shot(bob, artifacts_dir, "03-invitation")
            bob.get_by_role("link", name="Create an account to join").click()
            expect(bob.get_by_label("Email address")).to_have_value("bob@example.com")
            bob.get_by_label(re.compile(r"^Password:?$")).fill(PASSWORD)
            bob.get_by_label("Password (again)").fill(PASSWORD)
            bob.get_by_role("button", name="Create account").click()
            bob.wait_for_url(f"{base}/team/")
            expect(bob.get_by_text("You joined Acme Studio as member.")).to_be_visible()
            expect(bob.get_by_role("heading", name="Acme Studio: members")).to_be_visible()
            _shot(bob, artifacts_dir, "04-joined")
            bob_user = User.objects.get(email="bob@example.com")
            assert bob_user.email_verified
            assert Membership.objects.get(user=bob_user, workspace__name="Acme Studio").role == (
                Role.MEMBER
            )

            # 5. Bob switches to his personal workspace with the switcher, and back.
            bob.get_by_role("combobox", name="Workspace").select_option(label="Personal")
            bob.get_by_role("button", name="Switch").click()
            expect(bob.get_by_text("You are now working in Personal.")).to_be_visible()
            expect(bob.get_by_role("heading", name="Your personal workspace")).to_be_visible()
            _shot(bob, artifacts_dir, "05-switched-personal")
            bob.goto(f"{base}/workspaces/")
            _shot(bob, artifacts_dir, "06-workspaces")
            bob.get_by_role("button", name="Switch to Acme Studio").click()
            expect(bob.get_by_role("heading", name="Acme Studio: members")).to_be_visible()
            # A member sees no invite form and no API keys link.
            expect(bob.get_by_role("button", name="Send invitation")).to_have_count(0)
            expect(bob.get_by_role("link", name="API keys")).to_have_count(0)

            # 6. The owner sees Bob in the team; the invitation is no longer pending.
            owner.goto(f"{base}/team/")
            expect(owner.get_by_role("cell", name="bob@example.com", exact=True)).to_be_visible()
            expect(owner.get_by_text("Waiting for an answer")).to_have_count(0)
            _shot(owner, artifacts_dir, "07-owner-team")

            # 7. The owner creates an API key: shown once.
            owner.get_by_role("link", name="API keys").click()
            owner.get_by_label("Name").fill("Shop sync")
            owner.get_by_label("Monthly credit cap").fill("500")
            owner.get_by_role("button", name="Create key").click()
            secret = owner.get_by_label("Secret").input_value()
            assert secret.startswith("ck_")
            _shot(owner, artifacts_dir, "08-api-key")
            owner.reload()
            assert secret not in owner.content()
        finally:
            browser.close()
            # ORM calls made while playwright runs got their own connection: close it here, or
            # PostgreSQL cannot drop the test database at the end.
            connections.close_all()
    assert os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] == "true"
