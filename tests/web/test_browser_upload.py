"""Issue 19's features in Chromium: the quality choice with the time each takes here, uploading by
URL through the same guarded fetcher as the API, colour presets, and copying the result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from billing.selectors import balance_for
from cutout import engine
from cutout.cutouts.services import cutout_create
from cutout.models import Cutout, Source
from tests.factories import signed_up
from tests.image_server import serving_image
from tests.web.browsing import PHONE, shot, signed_in
from tests.web.images import photo_jpeg

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_quality_choice_shows_the_default_and_the_time_each_takes(
    live_server: Any, browser: Any, artifacts_dir: Path, settings: Any
) -> None:
    from playwright.sync_api import expect

    settings.CUTOUT_DEFAULT_PIPELINE = "balanced"
    person = signed_up(credits=5)
    # What this server took lately: fast 0.3 s (median of three), best none yet.
    for n, ms in enumerate((250, 300, 900)):
        Cutout.objects.create(
            workspace=person.workspace,
            pipeline="fast",
            status=Cutout.Status.SUCCEEDED,
            credits_charged=1,
            processing_ms=ms,
            input_sha256=f"{n:064d}",
        )
    page = signed_in(browser, live_server.url, person.user, person.workspace)
    page.goto(live_server.url + "/app/")
    choice = page.locator("#quality-choice")
    names = [n.strip() for n in choice.locator(".quality-name").all_inner_texts()]
    assert names == ["Fast", "Balanced (default)", "Best"]
    assert len(engine.PIPELINE_NAMES) == 3
    expect(page.get_by_label("Balanced")).to_be_checked()  # the server's default
    expect(choice.locator("label[for='quality-fast'] .quality-time")).to_have_text(
        "about 0.3 s per image · quickest"
    )
    expect(choice.locator("label[for='quality-best'] .quality-time")).to_have_text(
        "finest edges, slowest"
    )
    shot(page, artifacts_dir, "upload-quality")

    page.get_by_label("Fast").check()
    page.locator("#file-input").set_input_files(
        [{"name": "plant.jpg", "mimeType": "image/jpeg", "buffer": photo_jpeg("plant", (320, 240))}]
    )
    page.wait_for_url("**/cutouts/**", timeout=60_000)
    made = Cutout.objects.exclude(processing_ms__in=(250, 300, 900)).get()
    assert made.pipeline == "fast" and made.credits_charged == 1


@pytest.fixture
def image_server(settings: Any) -> Iterator[str]:
    """A local server the operator allows (CUTOUT_FETCH_ALLOWED_NETWORKS), serving one JPEG."""
    with serving_image(settings, photo_jpeg("mug", (320, 240)), "/shop/mug.jpg") as url:
        yield url


def test_upload_by_url_fetches_behind_the_guard(
    live_server: Any, browser: Any, artifacts_dir: Path, image_server: str
) -> None:
    from playwright.sync_api import expect

    person = signed_up(credits=2)
    page = signed_in(browser, live_server.url, person.user, person.workspace, viewport=PHONE)
    page.goto(live_server.url + "/app/")

    # An address the guard refuses: said plainly, nothing made, nothing charged.
    page.get_by_label("Or use an image URL").fill("http://10.1.2.3/photo.jpg")
    page.get_by_role("button", name="Fetch and remove").click()
    problem = page.locator("#queue .queue-item[data-state='failed']")
    expect(problem).to_contain_text("not allowed")
    expect(problem).to_contain_text("Nothing was charged.")
    assert not Cutout.objects.exists() and balance_for(person.workspace).balance == 2
    shot(page, artifacts_dir, "upload-url-refused")

    page.get_by_label("Or use an image URL").fill(image_server)
    page.get_by_role("button", name="Fetch and remove").click()
    page.wait_for_url("**/cutouts/**", timeout=60_000)
    cutout = Cutout.objects.get()
    assert cutout.input_name == "mug.jpg" and cutout.status == Cutout.Status.SUCCEEDED
    assert balance_for(person.workspace).balance == 1


def test_colour_presets_re_render_free_and_the_result_copies_as_a_picture(
    live_server: Any, browser: Any, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    person = signed_up(credits=3)
    cutout = cutout_create(
        workspace=person.workspace,
        data=photo_jpeg("ball", (480, 360), seed=31),
        options=engine.Options(pipeline="fast"),
        user=person.user,
        source=Source.WEB,
        input_name="ball.jpg",
    )
    page = signed_in(browser, live_server.url, person.user, person.workspace)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(live_server.url + f"/app/cutouts/{cutout.pk}/")

    # Copy: the result lands on the clipboard as a PNG of the result's own size.
    page.get_by_role("button", name="Copy image").click()
    expect(page.locator("#copy-image")).to_contain_text("Copied")
    size = page.evaluate(
        """async () => {
          const items = await navigator.clipboard.read();
          const blob = await items[0].getType("image/png");
          const bitmap = await createImageBitmap(blob);
          return [bitmap.width, bitmap.height];
        }"""
    )
    assert size == [cutout.result_width, cutout.result_height]

    # A colour preset sets the picker; the re-render uses it and costs nothing.
    form = page.locator("#rerender-form")
    form.locator("label.mode-option", has=page.locator("input[value='color']")).click()
    form.get_by_role("button", name="Mint (#dcfce7)").click()
    expect(form.locator("#bg-color-value")).to_have_text("#dcfce7")
    expect(form.get_by_role("button", name="Mint (#dcfce7)")).to_have_attribute(
        "aria-pressed", "true"
    )
    shot(page, artifacts_dir, "colour-presets")
    form.get_by_role("button", name="Re-render · free").click()
    expect(page.locator("#facts")).to_contain_text("#dcfce7")
    version = Cutout.objects.exclude(pk=cutout.pk).get()
    assert version.options["bg_color"] == "#dcfce7" and version.options["mode"] == "background"
    assert balance_for(person.workspace).balance == 2  # only the first cutout was charged
