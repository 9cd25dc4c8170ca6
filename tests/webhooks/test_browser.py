"""The webhooks page in Chromium: add an endpoint, send a test event, read the delivery log."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from accounts.models import Role
from cutout.models import WebhookDelivery, WebhookEndpoint
from tests.browser import LAUNCH_ARGS
from tests.factories import add_member, make_workspace
from tests.webhooks.test_webhooks import Receiver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _shot(page: Any, artifacts_dir: Path, name: str) -> None:
    page.screenshot(path=str(artifacts_dir / f"webhooks-{name}.png"), full_page=True)


def test_manager_adds_an_endpoint_and_sees_deliveries(
    live_server: Any,
    chromium_path: str,
    artifacts_dir: Path,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.conf import settings as django_settings
    from playwright.sync_api import expect, sync_playwright

    from cutout.celery import app

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.CUTOUT_FETCH_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    # The live server's test event is sent inline (no worker in this test).
    saved = app.conf.get("CELERY_TASK_ALWAYS_EAGER")
    app.conf.CELERY_TASK_ALWAYS_EAGER = True
    receiver = Receiver()
    workspace = make_workspace("Acme Studio")
    owner = add_member(workspace, Role.OWNER)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium_path, headless=True, args=LAUNCH_ARGS
            )
            context = browser.new_context(viewport={"width": 1200, "height": 800})
            _login(context, live_server, owner, django_settings)
            page = context.new_page()
            page.goto(f"{live_server.url}/webhooks/")
            expect(
                page.get_by_role("heading", name=re.compile("Webhooks of Acme Studio"))
            ).to_be_visible()

            # A private address is refused with a clear message, next to the field.
            page.get_by_label("URL (https recommended)").fill("http://10.0.0.7/hook")
            page.get_by_role("button", name="Add endpoint").click()
            expect(page.get_by_role("alert")).to_contain_text("not allowed")
            _shot(page, artifacts_dir, "01-refused")

            page.get_by_label("URL (https recommended)").fill(receiver.url)
            page.get_by_label("Description (optional)").fill("Catalogue importer")
            page.get_by_role("button", name="Add endpoint").click()
            expect(page.get_by_text("Webhook endpoint added.")).to_be_visible()
            endpoint = WebhookEndpoint.objects.get(workspace=workspace)
            expect(page.get_by_label(f"Signing secret of {receiver.url}")).to_have_value(
                endpoint.secret
            )

            page.get_by_role("button", name="Send test event").click()
            expect(page.get_by_text("Test event queued")).to_be_visible()
            page.reload()
            expect(page.get_by_role("cell", name="Delivered")).to_be_visible()
            _shot(page, artifacts_dir, "02-delivered")
            browser.close()
            # ORM calls made while playwright runs got their own connection: close it here, or
            # PostgreSQL cannot drop the test database at the end.
            connections.close_all()
    finally:
        receiver.close()
        app.conf.CELERY_TASK_ALWAYS_EAGER = bool(saved)
    delivery = WebhookDelivery.objects.get(endpoint__workspace=workspace)
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert len(receiver.requests) == 1


def _login(context: Any, live_server: Any, user: Any, django_settings: Any) -> None:
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
