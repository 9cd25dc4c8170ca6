"""What a first-time user tripped over (issue 19), each checked in Chromium: API keys made once
and copied, the library's delete with a confirmation and an undo, crops lined up with their
original, formats that are not versions, honest progress and counts, and messages that read."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from PIL import Image

from accounts.models import ApiKey
from cutout import engine
from cutout.cutouts.rerender import cutout_version
from cutout.cutouts.services import cutout_create
from cutout.files.retention import retention_sweep
from cutout.models import Cutout, Source
from tests.factories import make_cast, set_credits, signed_up
from tests.web.browsing import shot, signed_in
from tests.web.images import photo_jpeg

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _make(person: Any, n: int, **options: Any) -> Cutout:
    return cutout_create(
        workspace=person.workspace,
        data=photo_jpeg(("plant", "mug", "ball")[n % 3], (480, 360), seed=200 + n),
        options=engine.Options(pipeline="fast", **options),
        user=person.user,
        source=Source.WEB,
        input_name=f"photo-{n}.jpg",
    )


def test_api_key_is_made_once_shown_once_copied_and_revoked_on_confirmation(
    live_server: Any, browser: Any, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    cast = make_cast()
    page = signed_in(
        browser,
        live_server.url,
        cast.owner.user,
        cast.team,
        dialogs="",
        permissions=["clipboard-read", "clipboard-write"],
    )
    page.goto(live_server.url + "/api-keys/")
    page.get_by_label("Name").fill("Shop sync")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-secret")
    expect(secret).to_be_visible()
    value = secret.input_value()
    assert value.startswith("ck_")
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#copy-secret")).to_contain_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == value
    shot(page, artifacts_dir, "api-key-reveal")

    # Reloading shows the list, not a second new key.
    page.reload()
    expect(page.locator("#new-secret")).to_have_count(0)
    assert value not in page.content()
    assert ApiKey.objects.filter(workspace=cast.team).count() == 1

    # Revoking asks first: dismissed, nothing happens; accepted, the key stops.
    messages: list[str] = []

    def answer(dialog: Any, accept: bool) -> None:
        messages.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, False))
    page.get_by_role("button", name="Revoke Shop sync").click()
    assert messages and "Revoke Shop sync?" in messages[0]
    assert ApiKey.objects.get(workspace=cast.team).revoked_at is None
    page.once("dialog", lambda d: answer(d, True))
    page.get_by_role("button", name="Revoke Shop sync").click()
    expect(page.get_by_text("Revoked Shop sync.")).to_be_visible()
    assert ApiKey.objects.get(workspace=cast.team).revoked_at is not None


def test_library_delete_confirms_and_can_be_undone_then_is_purged(
    live_server: Any, browser: Any, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    person = signed_up(credits=10)
    made = [_make(person, n) for n in range(3)]
    version = cutout_version(
        source=made[0], options=engine.Options(pipeline="fast", mode="mask"), user=person.user
    )
    page = signed_in(browser, live_server.url, person.user, person.workspace, dialogs="")
    page.goto(live_server.url + "/app/library/")
    grid = page.locator("#library-grid > li")
    expect(grid).to_have_count(3)
    delete = page.get_by_role("button", name="Delete selected")
    expect(delete).to_be_disabled()
    page.get_by_label("Select photo-0.jpg").check()
    page.get_by_label("Select photo-1.jpg").check()
    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    delete.click()
    assert asked == ["Delete 2 cutouts and their versions? You can undo this for 10 minutes."]
    assert Cutout.objects.filter(deleted_at__isnull=True).count() == 4

    page.once("dialog", lambda d: d.accept())
    delete.click()
    expect(page.get_by_text("Deleted 2 cutouts.")).to_be_visible()
    expect(grid).to_have_count(1)
    shot(page, artifacts_dir, "library-undo")
    assert Cutout.objects.filter(deleted_at__isnull=False).count() == 3  # with the version
    page.goto(live_server.url + f"/app/cutouts/{made[0].pk}/")
    assert "No such cutout" in page.content() or page.title().startswith("Not found")
    page.go_back()
    page.get_by_role("button", name="Undo").click()
    expect(page.get_by_text("Restored 2 cutouts.")).to_be_visible()
    expect(grid).to_have_count(3)
    assert Cutout.objects.filter(deleted_at__isnull=True).count() == 4

    # Deleted again and left past the window: the sweep purges rows and files; undo is too late.
    page.get_by_label("Select photo-0.jpg").check()
    page.once("dialog", lambda d: d.accept())
    delete.click()
    expect(page.get_by_text("Deleted photo-0.jpg.")).to_be_visible()
    files = [str(made[0].result.name), str(made[0].matte.name), str(version.result.name)]
    report = retention_sweep(now=timezone.now() + timedelta(minutes=11))
    assert report.trash_purged == 2
    assert not Cutout.objects.filter(pk__in=[made[0].pk, version.pk]).exists()
    from django.core.files.storage import default_storage

    assert not any(default_storage.exists(name) for name in files)
    page.get_by_role("button", name="Undo").click()
    expect(page.get_by_text("Too late to undo")).to_be_visible()
    expect(grid).to_have_count(2)


def test_crop_before_and_after_line_up(live_server: Any, browser: Any, artifacts_dir: Path) -> None:
    person = signed_up(credits=5)
    person.workspace.keep_originals = True
    person.workspace.save(update_fields=["keep_originals"])
    cutout = _make(person, 1, crop=True, crop_margin="5%")
    canvas = cutout.metadata["canvas"]
    assert canvas["width"] < cutout.width  # a real crop
    # Past its editing window the page shows the plain viewer's before/after (the editor works
    # on the whole original, where a crop does not arise).
    cutout.editable_until = timezone.now() - timedelta(minutes=1)
    cutout.save(update_fields=["editable_until"])
    page = signed_in(browser, live_server.url, person.user, person.workspace)
    page.goto(live_server.url + f"/app/cutouts/{cutout.pk}/")
    page.wait_for_function("document.getElementById('before-image').naturalWidth > 0")
    box = page.locator(".compare-before").bounding_box()  # inside the box's border
    before = page.locator("#before-image").bounding_box()
    after = page.locator("#result-image").bounding_box()
    assert box and before and after
    # The box has the result's shape, so the result fills it ...
    assert cutout.result_width and cutout.result_height and cutout.width and cutout.height
    assert abs(box["width"] / box["height"] - cutout.result_width / cutout.result_height) < 0.01
    # ... and the original is scaled and shifted so that the cropped part fills it too.
    scale = box["width"] / canvas["width"]
    assert abs(before["width"] - cutout.width * scale) < 1.5
    assert abs(before["height"] - cutout.height * scale) < 1.5
    assert abs(before["x"] - (box["x"] - canvas["left"] * scale)) < 1.5
    assert abs(before["y"] - (box["y"] - canvas["top"] * scale)) < 1.5
    page.locator("#compare-range").fill("70")
    shot(page, artifacts_dir, "crop-compare", full=False)


def test_a_format_is_not_a_version(live_server: Any, browser: Any) -> None:
    from playwright.sync_api import expect

    person = signed_up(credits=5)
    cutout = _make(person, 2)
    page = signed_in(browser, live_server.url, person.user, person.workspace, accept_downloads=True)
    page.goto(live_server.url + f"/app/cutouts/{cutout.pk}/")
    for fmt, kind in (("jpeg", "JPEG"), ("webp", "WEBP"), ("avif", "AVIF"), ("zip", None)):
        for _ in range(2):  # asked twice: made once
            with page.expect_download() as info:
                page.locator(f".download-others a[data-format='{fmt}']").click()
            if kind:
                assert Image.open(info.value.path()).format == kind
    page.reload()
    expect(page.locator(".versions")).to_have_count(0)
    assert Cutout.objects.count() == 1


def test_queued_rows_show_no_full_bar_and_library_counts_agree(
    live_server: Any, browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import expect

    person = signed_up(credits=10)
    monkeypatch.setattr("cutout.jobs.services.job_enqueue", lambda *, job_id, only=None: 0)
    page = signed_in(browser, live_server.url, person.user, person.workspace)
    page.goto(live_server.url + "/app/")
    page.locator("#file-input").set_input_files(
        [
            {"name": f"q{n}.jpg", "mimeType": "image/jpeg", "buffer": photo_jpeg("mug", seed=n)}
            for n in range(2)
        ]
    )
    rows = page.locator(".queue-item[data-state='queued']")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("queued")
    expect(rows.first.locator("progress")).to_be_hidden()

    first = _make(person, 3)
    _make(person, 4, mode="background", bg_color="#ffffff")
    for mode in ("mask", "shadow"):
        cutout_version(source=first, options=engine.Options(pipeline="fast", mode=mode))
    page.goto(live_server.url + "/app/library/")
    expect(page.locator("#library-grid > li")).to_have_count(2)
    expect(page.locator("#result-count")).to_have_text("2 cutouts")
    page.get_by_label("Mode").select_option("white")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#library-grid > li")).to_have_count(1)
    expect(page.locator("#result-count")).to_have_text("1 of 2 cutouts")


def test_messages_read_as_sentences_and_say_what_is_wrong(
    live_server: Any, browser: Any, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    person = signed_up(credits=5)
    page = signed_in(browser, live_server.url, person.user, person.workspace)
    page.goto(live_server.url + "/app/")
    page.locator("#file-input").set_input_files(
        {"name": "fake.jpg", "mimeType": "image/jpeg", "buffer": b"not really a jpeg at all"}
    )
    row = page.locator(".queue-item").first
    expect(row).to_contain_text(
        "The file is not an image we can read; send JPEG, PNG, WebP, AVIF, BMP, GIF or TIFF. "
        "Nothing was charged."
    )
    expect(row).not_to_contain_text("TIFF Use")

    whole = photo_jpeg("plant", (640, 480), seed=9)
    page.locator("#file-input").set_input_files(
        {"name": "cut-short.jpg", "mimeType": "image/jpeg", "buffer": whole[: len(whole) // 2]}
    )
    row = page.locator(".queue-item").first
    expect(row).to_contain_text("Damaged file")
    expect(row).to_contain_text("looks damaged or only partly downloaded")
    expect(row).not_to_contain_text("Unsupported")
    shot(page, artifacts_dir, "damaged-file")

    set_credits(person.workspace, 0)
    page.goto(live_server.url + "/billing/")
    notice = page.locator("#low-balance")
    expect(notice).to_contain_text("This workspace has no credits left.")
    expect(notice).not_to_contain_text("running low")
    set_credits(person.workspace, 2)
    page.reload()
    expect(notice).to_contain_text("running low: 2 left")
