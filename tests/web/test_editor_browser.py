"""The guided editor on the result page, in Debian's Chromium, on a real cutout.

A keep click, a remove click, an erase stroke (painted at once, before the server answers), zoom
by key and wheel with clicks still landing on the right image pixel, undo and redo by keyboard,
then the download: its pixels are those of the edits. Screenshots at 1366 and 390 px go to
``tests/artifacts/editor-*.png``, and to ``docs/screenshots/`` when ``CUTOUT_UPDATE_DOCS=1``.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from cutout import engine
from cutout.cutouts.services import cutout_create
from cutout.models import Cutout, Source
from tests.factories import signed_up
from tests.web.conftest import photo
from tests.web.test_browser import Watch, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
W, H = 640, 480


def _cutout(persona: Any) -> Cutout:
    return cutout_create(
        workspace=persona.workspace,
        data=photo("plant", W, H),
        options=engine.Options(pipeline="fast"),
        user=persona.user,
        source=Source.WEB,
        input_name="succulent.jpg",
    )


class Stage:
    """Screen <-> image pixels for the editor's fitted view (as editor.js fits it) of an image of
    ``width`` x ``height``."""

    def __init__(self, page: Any, width: int = W, height: int = H) -> None:
        box = page.locator("#editor-stage").bounding_box()
        inner = page.locator("#editor-stage").evaluate("el => [el.clientWidth, el.clientHeight]")
        self.left, self.top = box["x"] + 1, box["y"] + 1  # inside its 1 px border
        self.w, self.h = inner
        self.s = min(self.w / width, self.h / height)
        self.ox, self.oy = (self.w - width * self.s) / 2, (self.h - height * self.s) / 2

    def screen(self, x: float, y: float) -> tuple[float, float]:
        return self.left + self.ox + x * self.s, self.top + self.oy + y * self.s

    def canvas_alpha(self, page: Any, x: float, y: float) -> int:
        """The alpha drawn on the editor's canvas over image pixel (x, y)."""
        sx, sy = self.ox + x * self.s, self.oy + y * self.s
        return int(
            page.evaluate(
                """([x, y]) => { const c = document.getElementById('editor-canvas');
                const r = c.width / c.clientWidth;
                return c.getContext('2d').getImageData(Math.round(x * r), Math.round(y * r), 1, 1)
                  .data[3]; }""",
                [sx, sy],
            )
        )


def save_for_docs(src: Path, name: str) -> None:
    """A copy in docs/screenshots/, reduced to 256 colours as the others there."""
    DOCS.mkdir(parents=True, exist_ok=True)
    Image.open(src).convert("RGB").quantize(256).save(DOCS / name, optimize=True)


def _pinch(page: Any, cx: float, cy: float, start: float, end: float) -> None:
    """Two fingers moving apart from ``start`` to ``end`` px around (cx, cy), through CDP."""
    cdp = page.context.new_cdp_session(page)

    def touch(kind: str, gap: float) -> None:
        points = (
            []
            if kind == "touchEnd"
            else [
                {"x": cx - gap / 2, "y": cy, "id": 0},
                {"x": cx + gap / 2, "y": cy, "id": 1},
            ]
        )
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", start)
    for step in range(1, 9):
        touch("touchMove", start + (end - start) * step / 8)
    touch("touchEnd", end)


def _alpha(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA").getchannel("A"))


def _download(page: Any) -> bytes:
    with page.expect_download() as info:
        page.locator("#download-main").click()
    return Path(info.value.path()).read_bytes()


def test_the_editor_refines_paints_zooms_undoes_and_downloads(
    live_server: Any,
    browser: Any,
    artifacts_dir: Path,
) -> None:
    from playwright.sync_api import expect

    persona = signed_up(credits=20)
    cutout = _cutout(persona)
    auto = _alpha(cutout.result.open("rb").read())
    base = live_server.url
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page = context.new_page()
    watch = Watch(page, base)
    sent: list[list[dict[str, Any]]] = []
    held: list[Any] = []  # refine requests held back while the test looks at the canvas
    hold = False

    def refine(route: Any) -> None:
        sent.append(json.loads(route.request.post_data)["hints"])
        if hold:
            held.append(route)
        else:
            route.continue_()

    page.route(re.compile(r"/app/cutouts/[^/]+/refine$"), refine)
    log_in(page, base, persona.user.email, persona.password)
    page.goto(f"{base}/app/cutouts/{cutout.pk}/")
    status = page.locator("#editor-status")
    expect(status).to_contain_text("Ready")
    expect(page.locator("#editor-canvas")).to_be_visible()
    before = _download(page)
    assert np.array_equal(_alpha(before), auto)
    stage = Stage(page)

    def updated(version: int) -> None:
        expect(status).to_have_text("Updated")
        expect(page.locator("#editor-version")).to_contain_text(f"Version {version}")

    # A keep click on the pot and a remove click on the wall: each sends the whole list.
    page.get_by_role("button", name="Keep").click()
    page.mouse.click(*stage.screen(320.5, 330.5))
    updated(1)
    assert sent[-1] == [{"kind": "keep", "x": 320, "y": 330}]
    page.keyboard.press("x")
    expect(page.get_by_role("button", name="Remove")).to_have_attribute("aria-pressed", "true")
    page.mouse.click(*stage.screen(40.5, 40.5))
    updated(2)
    assert sent[-1][1] == {"kind": "remove", "x": 40, "y": 40} and len(sent[-1]) == 2

    # An erase stroke across the pot: painted on the canvas while the server has not answered.
    page.get_by_role("button", name="Erase").click()
    page.get_by_label("Brush", exact=True).fill("40")
    assert stage.canvas_alpha(page, 320, 300) == 255
    hold = True
    page.mouse.move(*stage.screen(260, 300))
    page.mouse.down()
    for x in range(270, 390, 10):
        page.mouse.move(*stage.screen(x, 300))
    page.mouse.up()
    expect(status).to_have_text("Refining…")
    assert stage.canvas_alpha(page, 320, 300) == 0  # drawn locally, before any answer
    stroke = sent[-1][2]
    assert stroke["kind"] == "remove" and stroke["points"][0] == pytest.approx([260, 300], abs=1)
    assert stroke["radius"] == pytest.approx(20 / stage.s, abs=0.5)
    hold = False
    held.pop().continue_()
    updated(3)

    # Zoom with "+" and the wheel: a click at the stage's centre still lands on the same pixel.
    zoom = page.locator("#zoom-value")
    fitted = zoom.inner_text()
    page.locator("#editor-stage").focus()
    page.keyboard.press("+")
    cx, cy = stage.screen(W / 2, H / 2)
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -240)
    assert int(zoom.inner_text().rstrip("%")) > int(fitted.rstrip("%")) * 1.4
    page.keyboard.press("k")
    page.mouse.click(cx, cy)
    updated(4)
    click = sent[-1][3]
    assert click["kind"] == "keep" and abs(click["x"] - W / 2) <= 1 and abs(click["y"] - H / 2) <= 1
    shot = artifacts_dir / "editor-1366-zoomed.png"
    page.screenshot(path=str(shot))

    # Undo the last click with Ctrl+Z (the list without it is sent), redo, undo again; 0 fits.
    page.keyboard.press("Control+z")
    expect(status).to_have_text("Updated")
    assert sent[-1] == sent[-2][:3]
    page.keyboard.press("Control+Shift+z")
    expect(status).to_have_text("Updated")
    assert sent[-1] == sent[-3]
    page.keyboard.press("Control+z")
    expect(status).to_have_text("Updated")
    page.keyboard.press("0")
    expect(zoom).to_have_text(fitted)
    page.locator("#editor-compare").fill("50")
    page.locator("#editor-compare").blur()
    page.screenshot(path=str(artifacts_dir / "editor-1366.png"))

    # The download is the edited cutout: the erased stroke is transparent, the rest differs too.
    after = _alpha(_download(page))
    assert after.shape == auto.shape and not np.array_equal(after, auto)
    assert after[290:311, 270:381].max() == 0 and auto[290:311, 270:381].min() == 255
    cutout.refresh_from_db()
    assert cutout.refined and cutout.hints == sent[-1] and len(cutout.hints) == 3
    assert cutout.credits_charged == 1  # edits are free
    watch.check_page()

    # On a phone: the same editor, laid out in 390 px without sideways scrolling.
    # A tap with the Remove tool refines too (pointer events from touch).
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, has_touch=True
    )
    mobile = phone.new_page()
    log_in(mobile, base, persona.user.email, persona.password)
    mobile.goto(f"{base}/app/cutouts/{cutout.pk}/")
    expect(mobile.locator("#editor-status")).to_contain_text("Ready")
    assert mobile.evaluate("document.documentElement.scrollWidth") <= 390
    mobile.get_by_role("button", name="Remove").tap()
    small = Stage(mobile)
    mobile.touchscreen.tap(*small.screen(600.5, 60.5))
    expect(mobile.locator("#editor-status")).to_have_text("Updated")
    cutout.refresh_from_db()
    assert cutout.hints[-1] == {"kind": "remove", "x": 600, "y": 60}
    mobile.screenshot(path=str(artifacts_dir / "editor-390.png"))
    # Two fingers pinch: the view zooms, and no hint is made.
    sent_before = len(sent)
    small_zoom = int(mobile.locator("#zoom-value").inner_text().rstrip("%"))
    _pinch(mobile, small.left + small.w / 2, small.top + small.h / 2, 60, 180)
    zoomed = int(mobile.locator("#zoom-value").inner_text().rstrip("%"))
    assert zoomed > small_zoom * 2, (small_zoom, zoomed)
    mobile.wait_for_timeout(300)
    assert len(sent) == sent_before
    if os.environ.get("CUTOUT_UPDATE_DOCS") == "1":
        for name in ("editor-1366.png", "editor-390.png"):
            save_for_docs(artifacts_dir / name, name)


def _rotated_jpeg() -> bytes:
    """320x240 stored pixels (left half red, right half blue) with EXIF orientation 6: upright it
    is 240x320, red on top, blue below."""
    stored = Image.new("RGB", (320, 240), (220, 30, 30))
    stored.paste((30, 60, 220), (160, 0, 320, 240))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    stored.save(out, "JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


def test_an_exif_rotated_photo_is_edited_upright_and_by_keyboard(
    live_server: Any,
    browser: Any,
) -> None:
    from playwright.sync_api import expect

    persona = signed_up(credits=3)
    cutout = cutout_create(
        workspace=persona.workspace,
        data=_rotated_jpeg(),
        options=engine.Options(pipeline="fast"),
        user=persona.user,
        source=Source.WEB,
    )
    assert (cutout.width, cutout.height) == (240, 320)
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    log_in(page, live_server.url, persona.user.email, persona.password)
    page.goto(f"{live_server.url}/app/cutouts/{cutout.pk}/")
    expect(page.locator("#editor-status")).to_contain_text("Ready")
    page.locator("#editor-compare").fill("100")  # the original everywhere

    def colour(x: float, y: float) -> list[int]:
        box = page.locator("#editor-stage").evaluate("el => [el.clientWidth, el.clientHeight]")
        s = min(box[0] / 240, box[1] / 320)
        ox, oy = (box[0] - 240 * s) / 2, (box[1] - 320 * s) / 2
        return list(
            page.evaluate(
                """([x, y]) => { const c = document.getElementById('editor-canvas');
                const r = c.width / c.clientWidth;
                return Array.from(c.getContext('2d')
                  .getImageData(Math.round(x * r), Math.round(y * r), 1, 1).data.slice(0, 3)); }""",
                [ox + x * s, oy + y * s],
            )
        )

    top, bottom = colour(120, 60), colour(120, 260)
    assert top[0] > 150 and top[2] < 100, top  # red on top: drawn upright
    assert bottom[2] > 150 and bottom[0] < 100, bottom

    # Keyboard only: focus the image, zoom, move it under the crosshair, Enter clicks there.
    page.locator("#editor-stage").focus()
    page.keyboard.press("x")
    page.keyboard.press("+")
    page.keyboard.press("ArrowDown")  # the image moves up: the crosshair lands lower on it
    page.keyboard.press("Enter")
    expect(page.locator("#editor-status")).to_have_text("Updated")
    cutout.refresh_from_db()
    (hint,) = cutout.hints
    assert hint["kind"] == "remove" and abs(hint["x"] - 120) <= 1 and hint["y"] > 175

    # Reset goes back to the automatic cutout; the preview background switches.
    page.get_by_role("button", name="Reset").click()
    expect(page.locator("#editor-status")).to_have_text("Updated")
    cutout.refresh_from_db()
    assert cutout.hints == [] and not cutout.refined
    expect(page.get_by_role("button", name="Undo")).to_be_enabled()
    page.get_by_role("button", name="Dark").click()
    expect(page.get_by_role("button", name="Dark")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#editor-stage")).to_have_class(re.compile(r"\bbg-dark\b"))


def test_a_busy_server_is_asked_again_and_a_refused_edit_is_taken_back(
    live_server: Any, browser: Any
) -> None:
    from playwright.sync_api import expect

    persona = signed_up(credits=3)
    cutout = _cutout(persona)
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    sent: list[list[dict[str, Any]]] = []
    answers = ["busy", "real", "refused", "real"]  # what the next refine requests meet

    def refine(route: Any) -> None:
        sent.append(json.loads(route.request.post_data)["hints"])
        answer = answers.pop(0)
        if answer == "busy":  # a 503 with Retry-After, as cutout/errors.py answers an outage
            error = {"code": "unavailable", "message": "Try again later."}
            route.fulfill(status=503, headers={"Retry-After": "1"}, json={"error": error})
        elif answer == "refused":
            error = {"code": "invalid_parameter", "field": "hints", "message": "hints[1]: no."}
            route.fulfill(status=400, json={"error": error})
        else:
            route.continue_()

    page.route(re.compile(r"/app/cutouts/[^/]+/refine$"), refine)
    log_in(page, live_server.url, persona.user.email, persona.password)
    page.goto(f"{live_server.url}/app/cutouts/{cutout.pk}/")
    status = page.locator("#editor-status")
    expect(status).to_contain_text("Ready")
    stage = Stage(page)
    page.mouse.click(*stage.screen(320.5, 330.5))
    expect(status).to_contain_text("trying again in 1 s")
    expect(status).to_have_text("Updated")  # the same list, sent again by itself
    assert sent == [[{"kind": "keep", "x": 320, "y": 330}]] * 2

    page.keyboard.press("x")
    page.mouse.click(*stage.screen(40.5, 40.5))
    expect(status).to_contain_text("That edit was taken back. Nothing was charged.")
    page.mouse.click(*stage.screen(600.5, 40.5))
    expect(status).to_have_text("Updated")
    assert sent[-1] == [{"kind": "keep", "x": 320, "y": 330}, {"kind": "remove", "x": 600, "y": 40}]
    cutout.refresh_from_db()
    assert cutout.hints == sent[-1] and cutout.version == 2
