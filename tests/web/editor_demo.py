"""Not a test: making hard dev-set photos right with the editor, for docs/editor.md.

Run by hand (it reads ``../shared/evalsets/dev`` and the referee's ``clicker.py``, outside the
repo, and uses the default ``best`` pipeline)::

    .venv/bin/pytest tests/web/editor_demo.py -q -p no:randomly -s

For each case it uploads the photo, opens the editor in Chromium and makes the edits with the
mouse exactly as a person would: a box and clicks given here, or clicks where the referee's
simulated user puts them (the innermost point of the largest error). It prints the IoU against
the human mask after each edit and the time from the mouse-up to "Updated", and writes
``docs/screenshots/editor-demo-<case>.png`` (photo, automatic cutout and edited cutout side by
side on a checkerboard) and ``editor-demo-<case>-editor.png`` (the editor after the edits).
"""

from __future__ import annotations

import importlib.util
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
from tests.web.test_browser import log_in
from tests.web.test_editor_browser import DOCS, Stage, save_for_docs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EVALSETS = Path(__file__).resolve().parents[3] / "shared" / "evalsets"
DEV = EVALSETS / "dev"
CASES: dict[str, dict[str, Any]] = {
    # The model takes the slate board under the cheesecake: a box around the cake, one click.
    "cake": {
        "name": "coco_cake01_000000119677",
        "box": (186, 34, 386, 268),
        "clicks": [("remove", 300, 300)],
    },
    # Clicks only, where the referee's simulated user would put them.
    "toilet": {"name": "coco_toilet05_000000212453", "clicker": 3},
}


def _clicker() -> Any:
    spec = importlib.util.spec_from_file_location("clicker", EVALSETS / "clicker.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


@pytest.mark.parametrize("case", sorted(CASES))
def test_demo(live_server: Any, browser: Any, settings: Any, case: str) -> None:
    from playwright.sync_api import expect

    if not DEV.exists():
        pytest.skip("the dev set is not here")
    spec = CASES[case]
    settings.CUTOUT_DEFAULT_PIPELINE = "best"
    data = (DEV / "images" / f"{spec['name']}.jpg").read_bytes()
    mask = np.asarray(Image.open(DEV / "masks" / f"{spec['name']}.png").convert("L"))
    persona = signed_up(credits=50)
    cutout = cutout_create(
        workspace=persona.workspace,
        data=data,
        options=engine.Options(pipeline="best"),
        user=persona.user,
        source=Source.WEB,
        input_name=f"{case}.jpg",
    )
    automatic = cutout.result.open("rb").read()
    scores = [("automatic", _iou(_alpha(cutout.result), mask), 0.0)]
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    log_in(page, live_server.url, persona.user.email, persona.password)
    page.goto(f"{live_server.url}/app/cutouts/{cutout.pk}/")
    status = page.locator("#editor-status")
    expect(status).to_contain_text("Ready")
    stage = Stage(page, mask.shape[1], mask.shape[0])

    def done(label: str, started: float) -> None:
        expect(status).to_have_text("Updated", timeout=60_000)
        took = time.perf_counter() - started
        cutout.refresh_from_db()
        scores.append((label, _iou(_alpha(cutout.result), mask), took))

    if "box" in spec:
        box = spec["box"]
        page.get_by_role("button", name="Box").click()
        page.mouse.move(*stage.screen(box[0], box[1]))
        page.mouse.down()
        page.mouse.move(*stage.screen(box[2], box[3]), steps=8)
        started = time.perf_counter()
        page.mouse.up()
        done("box", started)
    clicks = list(spec.get("clicks", []))
    for n in range(spec.get("clicker", len(clicks))):
        if "clicker" in spec:
            gt, pred = mask >= 128, _alpha(cutout.result) >= 128
            x, y, keep = _clicker().next_click(gt, pred, np.ones(gt.shape, bool))
            clicks.append(("keep" if keep else "remove", x, y))
        kind, x, y = clicks[n]
        page.keyboard.press("k" if kind == "keep" else "x")
        started = time.perf_counter()
        page.mouse.click(*stage.screen(x + 0.5, y + 0.5))
        done(f"{kind} ({x}, {y})", started)
    page.screenshot(path=f"/tmp/editor-demo-{case}-editor.png")
    save_for_docs(Path(f"/tmp/editor-demo-{case}-editor.png"), f"editor-demo-{case}-editor.png")
    after = cutout.result.open("rb").read()
    _side_by_side(data, automatic, after, DOCS / f"editor-demo-{case}.png")
    print(f"\n{spec['name']}:")
    for label, score, took in scores:
        print(f"  {label:<22} IoU {score:.3f}" + (f"  ({took:.1f} s to Updated)" if took else ""))
