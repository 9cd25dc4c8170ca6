"""The API reference (``/api/docs``: Swagger UI, our own static copy) as a reader sees it in
Chromium: every API's operations drawn, a copy-paste call shown, nothing asked of another origin,
nothing refused by the page's Content-Security-Policy, and no sideways scrolling on a phone.

Shots go to ``tests/artifacts/api-docs-*.png`` (and, reduced to 256 colours, to
``docs/screenshots/`` when ``CUTOUT_UPDATE_DOCS=1``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from PIL import Image

from tests.browser import LAUNCH_ARGS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
RENDERER = "drf_spectacular_sidecar/swagger-ui-dist/"

# One operation of each API: (tag, path).
OPERATIONS = [
    ("Cutout API (native)", "/api/v1/cutouts"),
    ("remove.bg", "/v1.0/removebg"),
    ("AILabTools", "/api/cutout/general/universal-background-removal"),
    ("API4AI", "/v1/results"),
    ("poof.bg (seed 004)", "/v1/remove"),
    ("Pixian", "/api/v2/remove-background"),
    ("Photoroom", "/v1/segment"),
    ("Clipdrop", "/remove-background/v1"),
]

WATCH_CSP = """window.__refused = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__refused.push(e.violatedDirective + " " + e.blockedURI));"""


def test_renderer_and_our_files_are_static_files() -> None:
    """What the page loads is found by the static-file finders, so collectstatic ships it."""
    for name in (
        RENDERER + "swagger-ui-bundle.js",
        RENDERER + "swagger-ui.css",
        "js/api-docs.js",
        "css/api-docs.css",
    ):
        found = finders.find(name)
        assert found and Path(str(found)).stat().st_size > 100, name


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_docs_page_in_chromium(live_server, chromium_path, artifacts_dir: Path) -> None:
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import expect, sync_playwright

    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=LAUNCH_ARGS)
        try:
            for label, viewport in (("1366", (1366, 900)), ("390", (390, 844))):
                page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
                page.on(
                    "request",
                    lambda req: (
                        outside.append(req.url) if not req.url.startswith(live_server.url) else None
                    ),
                )
                page.add_init_script(WATCH_CSP)
                response = page.goto(f"{live_server.url}/api/docs")
                assert response is not None
                policy = response.headers["content-security-policy"]
                assert "script-src 'self';" in policy and "unsafe" not in policy
                expect(page.get_by_role("heading", name="Cutout API", level=1)).to_be_visible()
                link = page.get_by_role("link", name="OpenAPI 3.1 document")
                assert link.get_attribute("href") == "/api/openapi.json"
                # Swagger UI has drawn the document: each API's section and operation.
                expect(page.locator("#swagger-ui[data-ready=true]")).to_have_count(1)
                for tag, path in OPERATIONS:
                    expect(page.locator(f'.opblock-tag[data-tag="{tag}"]')).to_be_visible()
                    summary = page.locator(f'.opblock-summary-path[data-path="{path}"]').first
                    expect(summary).to_be_visible()
                # Opening an operation shows its copy-paste call, with this server's host.
                page.locator('.opblock-summary-path[data-path="/api/v2/remove-background"]').click()
                sample = page.locator(".opblock-description-wrapper pre", has_text="xyz123:$KEY")
                expect(sample).to_be_visible()
                assert f"curl {live_server.url}/api/v2/remove-background" in sample.inner_text()
                # Nothing wider than the screen on a phone.
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 1, f"{label}: page is {overflow}px wider than the viewport"
                resources = page.evaluate(
                    "performance.getEntriesByType('resource').map((e) => e.name)"
                )
                assert any(RENDERER in url for url in resources)
                assert [url for url in resources if not url.startswith(live_server.url)] == []
                assert page.evaluate("window.__refused") == []
                _shoot(page, artifacts_dir / f"api-docs-{label}.png")
                page.close()
        finally:
            browser.close()
    assert outside == []  # no CDN, no external fonts, scripts or validator badge


def _shoot(page, shot: Path) -> None:
    page.evaluate("window.scrollTo(0, 0)")  # the sticky header at the top of the shot
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("CUTOUT_UPDATE_DOCS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        with Image.open(shot) as image:
            image.convert("RGB").quantize(256).save(DOCS / shot.name, optimize=True)
