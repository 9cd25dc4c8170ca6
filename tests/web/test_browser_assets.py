"""The page scripts and stylesheets split along their seams (issue 19): every file under 450
lines, and in Chromium the pages that read them run without a script error, the upload page's
checks (static/js/upload-checks.js) still catch a bad file before it is sent, and the second
stylesheet (static/css/pages.css) applies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.factories import signed_up
from tests.web.browsing import PHONE, signed_in

STATIC = Path(__file__).resolve().parents[2] / "static"


def test_every_script_and_stylesheet_is_under_450_lines() -> None:
    files = [*STATIC.glob("js/*.js"), *STATIC.glob("css/*.css")]
    assert len(files) > 10
    long = {f.name: n for f in files if (n := len(f.read_text().splitlines())) > 450}
    assert not long, long


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_split_files_load_and_work(live_server: Any, browser: Any) -> None:
    from playwright.sync_api import expect

    person = signed_up(credits=1)
    page = signed_in(browser, live_server.url, person.user, person.workspace, viewport=PHONE)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(live_server.url + "/app/")
    assert page.evaluate("typeof window.CutoutUploadChecks") == "function"
    page.locator("#file-input").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}
    )
    expect(page.locator(".queue-item").first).to_contain_text("Unsupported file")
    # pages.css: the footer's rule, and a phone rule from its narrow-screen part.
    assert page.evaluate("getComputedStyle(document.querySelector('.footer')).borderTopStyle") == (
        "solid"
    )
    assert page.evaluate("getComputedStyle(document.querySelector('main')).paddingLeft") == "14px"
    page.goto(live_server.url + "/app/library/")
    assert not errors, errors
