"""Not a test: making a hard dev-set photo right with the editor, for docs/editor.md.

Run by hand (it reads ``../shared/evalsets/dev``, outside the repo, and uses the default
``best`` pipeline)::

    .venv/bin/pytest tests/web/editor_demo.py -q -p no:randomly -s

It uploads the photo, opens the editor in Chromium, draws the edits given below with the mouse
exactly as a person would, prints the IoU against the human mask before and after, and writes
``docs/screenshots/editor-demo-after.png`` (the editor) and ``editor-demo-cake.png``
(original, automatic cutout, edited cutout side by side on a checkerboard).
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from cutout import engine
from cutout.cutouts.services import cutout_create
from cutout.models import Source
from tests.factories import signed_up
from tests.web.test_browser import browser, log_in  # noqa: F401 (a fixture)
from tests.web.test_editor_browser import Stage, save_for_docs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEV = Path(__file__).resolve().parents[3] / "shared" / "evalsets" / "dev"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
NAME = "coco_cake01_000000119677"
BOX = (186, 34, 386, 268)  # drawn around the cheesecake
CLICKS = [("remove", 300, 300)]  # a remove click on the slate board that the model kept


def _iou(alpha: np.ndarray, mask: np.ndarray) -> float:
    a, m = alpha >= 128, mask >= 128
    return float((a & m).sum() / max(1, (a | m).sum()))


def _alpha(field: Any) -> np.ndarray:
    with field.open("rb") as handle:
        return np.asarray(Image.open(io.BytesIO(handle.read())).convert("RGBA").getchannel("A"))


def _side_by_side(original: bytes, before: bytes, after: bytes, out: Path) -> None:
    tiles = [Image.open(io.BytesIO(b)).convert("RGBA") for b in (original, before, after)]
    w, h = tiles[0].width // 2, tiles[0].height // 2
    sheet = Image.new("RGB", (3 * w + 16, h), (255, 255, 255))
    checker = Image.new("RGB", (w, h), (255, 255, 255))
    for y in range(0, h, 10):
        for x in range((y // 10 % 2) * 10, w, 20):
            checker.paste((233, 235, 240), (x, y, x + 10, y + 10))
    for i, tile in enumerate(tiles):
        cell = checker.copy()
        cell.paste(tile.resize((w, h), Image.Resampling.LANCZOS), (0, 0), tile.resize((w, h)))
        sheet.paste(cell, (i * (w + 8), 0))
    sheet.save(out, optimize=True)


def test_demo(live_server: Any, browser: Any, settings: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    if not DEV.exists():
        pytest.skip("the dev set is not here")
    settings.CUTOUT_DEFAULT_PIPELINE = "best"
    data = (DEV / "images" / f"{NAME}.jpg").read_bytes()
    mask = np.asarray(Image.open(DEV / "masks" / f"{NAME}.png").convert("L"))
    persona = signed_up(credits=50)
    cutout = cutout_create(
        workspace=persona.workspace,
        data=data,
        options=engine.Options(pipeline="best"),
        user=persona.user,
        source=Source.WEB,
        input_name="cheesecake.jpg",
    )
    auto = _iou(_alpha(cutout.result), mask)
    DOCS.mkdir(parents=True, exist_ok=True)
    automatic = cutout.result.open("rb").read()
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    log_in(page, live_server.url, persona.user.email, persona.password)
    page.goto(f"{live_server.url}/app/cutouts/{cutout.pk}/")
    expect(page.locator("#editor-status")).to_contain_text("Ready")
    stage = Stage(page)
    page.get_by_role("button", name="Box").click()
    page.mouse.move(*stage.screen(BOX[0], BOX[1]))
    page.mouse.down()
    page.mouse.move(*stage.screen(BOX[2], BOX[3]), steps=8)
    started = time.perf_counter()
    page.mouse.up()
    expect(page.locator("#editor-status")).to_have_text("Updated", timeout=60_000)
    print(f"\nbox to updated result: {time.perf_counter() - started:.2f} s")
    cutout.refresh_from_db()
    scores = [("box", _iou(_alpha(cutout.result), mask))]
    for kind, x, y in CLICKS:
        page.keyboard.press("k" if kind == "keep" else "x")
        started = time.perf_counter()
        page.mouse.click(*stage.screen(x + 0.5, y + 0.5))
        expect(page.locator("#editor-status")).to_have_text("Updated", timeout=60_000)
        print(f"\nclick to updated result: {time.perf_counter() - started:.2f} s")
        cutout.refresh_from_db()
        scores.append((f"{kind} ({x}, {y})", _iou(_alpha(cutout.result), mask)))
    page.screenshot(path="/tmp/editor-demo-after.png")
    save_for_docs(Path("/tmp/editor-demo-after.png"), "editor-demo-after.png")
    _side_by_side(data, automatic, cutout.result.open("rb").read(), DOCS / "editor-demo-cake.png")
    print(f"\n{NAME}: automatic IoU {auto:.3f}; " + "; ".join(f"{k} {v:.3f}" for k, v in scores))
    print("hints:", cutout.hints)
