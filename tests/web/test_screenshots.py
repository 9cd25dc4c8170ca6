"""The pages issue 19 changed, at 1366 and 390 px in Chromium: none scrolls sideways on the
phone, and each is shot to ``tests/artifacts/page-*.png`` (and, reduced to 256 colours, to
``docs/screenshots/`` when ``CUTOUT_UPDATE_DOCS=1``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.web.browsing import DESKTOP, PHONE, scroll_width, signed_in
from tests.web.test_browser_layout import _seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _pages(seed: dict[str, Any]) -> dict[str, str]:
    return {
        "upload": "/app/",
        "library": "/app/library/",
        "result": f"/app/cutouts/{seed['cutout'].pk}/",
        "batch": f"/app/batches/{seed['job'].pk}/",
        "billing": "/billing/",
        "api-keys": "/api-keys/",
        "team": "/team/",
        "staff-usage": "/staff/usage?group=workspace",
    }


def test_changed_pages_at_desktop_and_phone_width(
    live_server: Any, browser: Any, artifacts_dir: Path
) -> None:
    seed = _seed()
    docs = os.environ.get("CUTOUT_UPDATE_DOCS") == "1"
    too_wide = []
    for label, viewport in (("1366", DESKTOP), ("390", PHONE)):
        page = signed_in(browser, live_server.url, seed["user"], seed["team"], viewport=viewport)
        for name, path in _pages(seed).items():
            page.goto(live_server.url + path)
            page.wait_for_load_state("networkidle")
            if scroll_width(page) > viewport["width"]:
                too_wide.append((name, label, scroll_width(page)))
            shot = artifacts_dir / f"page-{name}-{label}.png"
            page.screenshot(path=str(shot), full_page=True)
            if docs:
                DOCS.mkdir(parents=True, exist_ok=True)
                with Image.open(shot) as image:
                    image.convert("RGB").quantize(256).save(DOCS / f"web-{name}-{label}.png")
        page.context.close()
    assert not too_wide, too_wide
