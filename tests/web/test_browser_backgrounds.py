"""The result page's backgrounds and the plain viewer's zoom (issue 19), in Chromium: a preset
picture, the user's own picture (and a damaged one) and a blur as free re-renders, another format
of a picture version with its picture, blur refused when the original is gone; zoom and pan of
the plain viewer with the editor's code."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.utils import timezone
from PIL import Image

from billing.selectors import balance_for
from cutout import engine
from cutout.cutouts.services import cutout_create
from cutout.models import Cutout, Source
from tests.factories import signed_up
from tests.web.browsing import PHONE, shot, signed_in
from tests.web.images import photo_jpeg

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _make(person: Any, subject: str = "mug", **options: Any) -> Cutout:
    return cutout_create(
        workspace=person.workspace,
        data=photo_jpeg(subject, (480, 360), seed=41),
        options=engine.Options(pipeline="fast", **options),
        user=person.user,
        source=Source.WEB,
        input_name=f"{subject}.jpg",
    )


def _png(colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def _corner(path_or_bytes: Any) -> list[int]:
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(source) as image:
        return np.asarray(image.convert("RGB"))[2, 2].tolist()


def _latest(person: Any) -> Cutout:
    return Cutout.objects.filter(workspace=person.workspace).latest("created_at")


def _choose_mode(page: Any, value: str) -> None:
    form = page.locator("#rerender-form")
    form.locator("label.mode-option", has=page.locator(f"input[value='{value}']")).click()


def test_backgrounds_re_render_free_and_other_formats_keep_the_picture(
    live_server: Any, browser: Any, artifacts_dir: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    person = signed_up(credits=3)
    cutout = _make(person)
    before = balance_for(person.workspace).balance
    page = signed_in(browser, live_server.url, person.user, person.workspace, accept_downloads=True)
    page.goto(live_server.url + f"/app/cutouts/{cutout.pk}/")
    form = page.locator("#rerender-form")
    tiles = form.locator(".bg-tiles")
    expect(tiles).to_be_hidden()  # only for the picture mode
    _choose_mode(page, "photo")
    expect(tiles).to_be_visible()
    expect(tiles.locator(".bg-tile")).to_have_count(6)  # five presets and the user's own
    tiles.locator(".bg-tile", has_text="Evening lights").click()
    shot(page, artifacts_dir, "result-backgrounds")
    form.get_by_role("button", name="Re-render · free").click()
    expect(page.locator("#facts")).to_contain_text("Picture")
    on_preset = _latest(person)
    assert on_preset.pk != cutout.pk and on_preset.credits_charged == 0
    assert on_preset.options["bg_image"].startswith("sha256:")

    # Another format of the picture version is rendered on the same picture.
    with on_preset.result.open("rb") as handle:
        own = _corner(handle.read())
    with page.expect_download() as info:
        page.locator(".download-others a[data-format='webp']").click()
    assert Image.open(info.value.path()).format == "WEBP"
    assert np.abs(np.asarray(_corner(info.value.path())) - own).max() < 16, own

    # The user's own picture: choosing the file picks "Your picture" and shows it in its tile.
    green = tmp_path / "green.png"
    green.write_bytes(_png((20, 200, 40)))
    _choose_mode(page, "photo")
    form.locator("#id_bg_file").set_input_files(str(green))
    expect(form.locator("#bg-own")).to_be_checked()
    assert "blob:" in page.evaluate(
        "document.getElementById('bg-own-preview').style.backgroundImage"
    )
    form.get_by_role("button", name="Re-render · free").click()
    expect(page.locator("#facts")).to_contain_text("Picture")
    r, g, b = _corner(_latest(person).result.open("rb").read())
    assert g > 170 and r < 60 and b < 80

    # A damaged picture is refused in words, and nothing is made or charged.
    broken = tmp_path / "broken.jpg"
    out = io.BytesIO()
    Image.new("RGB", (300, 200), (200, 10, 10)).save(out, "JPEG")
    broken.write_bytes(out.getvalue()[:400])
    count = Cutout.objects.count()
    _choose_mode(page, "photo")
    form.locator("#id_bg_file").set_input_files(str(broken))
    form.get_by_role("button", name="Re-render · free").click()
    expect(page.locator(".message.error")).to_contain_text("damaged")
    expect(page.locator(".message.error")).to_contain_text("Nothing was charged")
    assert Cutout.objects.count() == count

    # The photo's own background, blurred (its original is kept while it is editable).
    _choose_mode(page, "blur")
    form.locator("label.segment", has_text="Strong").click()
    form.get_by_role("button", name="Re-render · free").click()
    expect(page.locator("#facts")).to_contain_text("Blur")
    assert _latest(person).options["bg_blur"] == "4%"
    assert balance_for(person.workspace).balance == before
    expect(page.locator("#credits-available")).to_have_text(str(before))


def test_blur_is_off_when_the_original_is_gone(
    live_server: Any, browser: Any, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    person = signed_up(credits=2)
    cutout = _make(person, "plant")
    cutout.original.delete(save=False)
    cutout.editable_until = timezone.now() - timedelta(minutes=1)
    cutout.save(update_fields=["original", "editable_until"])
    page = signed_in(browser, live_server.url, person.user, person.workspace)
    page.goto(live_server.url + f"/app/cutouts/{cutout.pk}/")
    blur = page.locator("#rerender-form input[name='style'][value='blur']")
    expect(blur).to_be_disabled()
    expect(page.locator("#blur-off-note")).to_contain_text("no longer kept")
    expect(page.locator("#rerender-form input[value='photo']")).to_be_enabled()


def _box(page: Any, selector: str) -> dict[str, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None
    return box


def test_the_plain_viewer_zooms_and_pans_like_the_editor(
    live_server: Any, browser: Any, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    person = signed_up(credits=2)
    cutout = _make(person, "ball")
    cutout.editable_until = timezone.now() - timedelta(minutes=1)  # the editing window is over
    cutout.save(update_fields=["editable_until"])
    page = signed_in(browser, live_server.url, person.user, person.workspace)
    page.goto(live_server.url + f"/app/cutouts/{cutout.pk}/")
    expect(page.locator("#editor")).to_have_count(0)
    page.wait_for_function("document.getElementById('before-image').naturalWidth > 0")
    tools = page.get_by_role("group", name="Zoom")
    expect(tools).to_be_visible()
    fitted = _box(page, "#result-image")
    box = _box(page, "#compare")
    assert cutout.result_width
    fit_percent = round(100 * fitted["width"] / cutout.result_width)
    expect(page.locator("#zoom-value")).to_have_text(f"{fit_percent}%")

    tools.get_by_role("button", name="Zoom in").click()
    zoomed = _box(page, "#result-image")
    assert zoomed["width"] == pytest.approx(fitted["width"] * 1.25, rel=0.01)
    # About the box's centre, and the original under the slider moves with the result.
    assert zoomed["x"] + zoomed["width"] / 2 == pytest.approx(box["x"] + box["width"] / 2, abs=1)
    assert _box(page, "#before-image")["width"] == pytest.approx(zoomed["width"], rel=0.01)

    # Dragging moves the picture (not the before/after slider) once zoomed.
    slider = page.locator("#compare-range").input_value()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 60, cy + 30, steps=4)
    page.mouse.up()
    panned = _box(page, "#result-image")
    assert panned["x"] - zoomed["x"] == pytest.approx(60, abs=1.5)
    assert panned["y"] - zoomed["y"] == pytest.approx(30, abs=1.5)
    assert page.locator("#compare-range").input_value() == slider

    # Ctrl and the wheel zoom about the pointer; the key 0 (or Fit) shows the whole picture.
    page.keyboard.down("Control")
    page.mouse.wheel(0, -200)
    page.keyboard.up("Control")
    assert _box(page, "#result-image")["width"] > panned["width"] * 1.2
    page.locator("#compare-range").focus()
    page.keyboard.press("0")
    assert _box(page, "#result-image") == pytest.approx(fitted, abs=0.5)
    page.keyboard.press("+")
    assert _box(page, "#result-image")["width"] == pytest.approx(fitted["width"] * 1.25, rel=0.01)
    shot(page, artifacts_dir, "result-plain-zoomed", full=False)
    tools.get_by_role("button", name="Fit").click()
    assert _box(page, "#result-image") == pytest.approx(fitted, abs=0.5)
    # At fit, dragging is the before/after slider again.
    page.mouse.move(box["x"] + box["width"] * 0.3, cy)
    page.mouse.down()
    page.mouse.up()
    assert int(page.locator("#compare-range").input_value()) < 40

    phone = signed_in(browser, live_server.url, person.user, person.workspace, viewport=PHONE)
    phone.goto(live_server.url + f"/app/cutouts/{cutout.pk}/")
    expect(phone.get_by_role("group", name="Zoom")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_screenshots_of_backgrounds_and_the_zoomed_viewer(
    live_server: Any, browser: Any, artifacts_dir: Path
) -> None:
    """``web-result-backgrounds-*`` and ``web-result-zoom-*`` at 1366 and 390 px (into
    docs/screenshots/ with ``CUTOUT_UPDATE_DOCS=1``); neither page scrolls sideways."""
    import os

    from playwright.sync_api import expect

    from tests.web.browsing import DESKTOP
    from tests.web.test_screenshots import DOCS

    person = signed_up(credits=4)
    editable = _make(person, "plant")
    plain = _make(person, "ball")
    plain.editable_until = timezone.now() - timedelta(minutes=1)
    plain.save(update_fields=["editable_until"])
    docs = os.environ.get("CUTOUT_UPDATE_DOCS") == "1"
    for label, viewport in (("1366", DESKTOP), ("390", PHONE)):
        page = signed_in(browser, live_server.url, person.user, person.workspace, viewport=viewport)
        page.goto(live_server.url + f"/app/cutouts/{editable.pk}/")
        _choose_mode(page, "photo")
        page.locator(".bg-tile", has_text="Wall and floor").click()
        expect(page.locator(".bg-tiles")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        names: dict[str, Path] = {}
        page.evaluate(
            "window.scrollTo(0, 0)"
        )  # a full-page shot of a scrolled page repeats the bar
        names["result-backgrounds"] = artifacts_dir / f"page-result-backgrounds-{label}.png"
        page.screenshot(path=str(names["result-backgrounds"]), full_page=True)
        page.goto(live_server.url + f"/app/cutouts/{plain.pk}/")
        page.wait_for_function("document.getElementById('before-image').naturalWidth > 0")
        page.get_by_role("button", name="Zoom in").click()
        page.get_by_role("button", name="Zoom in").click()
        page.evaluate("window.scrollTo(0, 0)")
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        names["result-zoom"] = artifacts_dir / f"page-result-zoom-{label}.png"
        page.screenshot(path=str(names["result-zoom"]), full_page=True)
        page.context.close()
        if docs:
            for name, path in names.items():
                with Image.open(path) as image:
                    image.convert("RGB").quantize(256).save(DOCS / f"web-{name}-{label}.png")
