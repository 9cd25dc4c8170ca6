"""The API docs page as a reader sees it in Chromium (no external assets, readable on a phone)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser import LAUNCH_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_docs_page_in_chromium(live_server, chromium_path, artifacts_dir: Path) -> None:
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import expect, sync_playwright

    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=LAUNCH_ARGS)
        try:
            for name, viewport in (("desktop", (1280, 900)), ("phone", (390, 844))):
                page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
                page.on(
                    "request",
                    lambda req: (
                        outside.append(req.url) if not req.url.startswith(live_server.url) else None
                    ),
                )
                page.goto(f"{live_server.url}/api/docs")
                expect(page.get_by_role("heading", name="Cutout API", level=1)).to_be_visible()
                expect(page.get_by_role("heading", name="Drop-in compatible APIs")).to_be_visible()
                expect(page.get_by_role("heading", name="remove.bg")).to_be_visible()
                expect(page.locator("code", has_text="/api/v1/cutouts").first).to_be_visible()
                # Nothing wider than the screen on a phone.
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 1, f"{name}: page is {overflow}px wider than the viewport"
                page.screenshot(path=str(artifacts_dir / f"api-docs-{name}.png"), full_page=True)
                link = page.get_by_role("link", name="OpenAPI 3.1 document")
                assert link.get_attribute("href") == "/api/openapi.json"
                page.close()
        finally:
            browser.close()
    assert outside == []  # no CDN, no external fonts or scripts
