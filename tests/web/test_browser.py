"""The web app in Debian's Chromium, as a new user meets it.

Sign up, upload a photo, try every mode, download, re-render without a second charge, run a batch
of three while its progress updates live, look at the library, hit the no-credits state and the
bad-file states, and invite a teammate. Screenshots go to ``tests/artifacts/web-*.png``.
"""

from __future__ import annotations

import base64
import re
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from PIL import Image

from accounts.models import User
from billing.selectors import balance_for
from cutout.models import Cutout, Job, JobItem
from tests.factories import signed_up
from tests.web.conftest import photo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long enough browser phrase"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
ASSET_BUDGET = 200 * 1024  # JS + CSS per page, before images


class Watch:
    """Per page: bytes of JS and CSS, and any request that leaves the test server."""

    def __init__(self, page: Any, base: str) -> None:
        self.host = urlparse(base).netloc
        self.assets: dict[str, int] = {}
        self.foreign: list[str] = []
        page.on("response", self._response)
        page.on("request", self._request)

    def _request(self, request: Any) -> None:
        url = request.url
        if url.startswith(("data:", "blob:")):
            return
        if urlparse(url).netloc != self.host:
            self.foreign.append(url)

    def _response(self, response: Any) -> None:
        if response.request.resource_type in ("script", "stylesheet"):
            try:
                self.assets[response.url] = len(response.body())
            except Exception:  # a redirect has no body
                self.assets.setdefault(response.url, 0)

    def check_page(self) -> int:
        total = sum(self.assets.values())
        assert total < ASSET_BUDGET, self.assets
        self.assets.clear()
        assert not self.foreign, self.foreign
        return total


def shot(page: Any, artifacts: Path, name: str, *, full: bool = True) -> None:
    page.screenshot(path=str(artifacts / f"web-{name}.png"), full_page=full)


def file_payload(name: str, data: bytes, mime: str = "image/jpeg") -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": data}


def log_in(page: Any, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label(re.compile(r"^Password:?$")).fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/app/")


def test_new_user_journey(
    live_server: Any, browser: Any, artifacts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import expect

    base = live_server.url
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    watch = Watch(page, base)

    # Landing: what Cutout does, a before/after example, sign up.
    page.goto(base + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Remove image backgrounds")
    expect(page.locator(".hero .compare-range")).to_be_visible()
    expect(page.get_by_alt_text("Original photo: a potted succulent on a table")).to_be_visible()
    shot(page, artifacts_dir, "01-landing")
    watch.check_page()

    page.get_by_role("link", name="Try it free").click()
    page.get_by_label("Email address").fill("maya@example.com")
    page.get_by_label(re.compile(r"^Password:?$")).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{base}/app/")
    expect(page.get_by_role("heading", name="Remove the background")).to_be_visible()
    expect(page.locator("#credits-available")).to_have_text("25")
    shot(page, artifacts_dir, "02-home")
    watch.check_page()
    maya = User.objects.get(email="maya@example.com")
    workspace = maya.memberships.get().workspace

    # Upload a photo with the picker: it is charged one credit and opens its result.
    page.locator("#file-input").set_input_files(
        file_payload("succulent.jpg", photo("plant", 960, 720))
    )
    page.wait_for_url(re.compile(r"/app/cutouts/[0-9a-f-]{36}/$"), timeout=60_000)
    first = Cutout.objects.get()
    assert first.credits_charged == 1 and first.pipeline == "fast"
    expect(page.locator("#credits-charged")).to_contain_text("1")
    expect(page.locator("#credits-available")).to_have_text("24")
    expect(page.locator("#facts")).to_contain_text("960 \u00d7 720 px")
    # The result opens in the editor (the original is kept while it is editable); its
    # before/after slider is a keyboard range (the editor's own test: test_editor_browser.py).
    expect(page.locator("#editor-status")).to_contain_text("Ready")
    slider = page.get_by_label("Before / after")
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert slider.get_attribute("aria-valuetext") == "3% original"
    shot(page, artifacts_dir, "03-result")
    watch.check_page()

    # Download the PNG: a real cutout with transparency.
    with page.expect_download() as download_info:
        page.locator("#download-main").click()
    download = download_info.value
    assert download.suggested_filename == "succulent-transparent.png"
    png = Image.open(download.path())
    assert png.mode == "RGBA" and png.getchannel("A").getextrema() == (0, 255)
    # And as JPG (another format: free).
    with page.expect_download() as download_info:
        page.locator(".download-others a[data-format='jpeg']").click()
    assert Image.open(download_info.value.path()).format == "JPEG"

    # Try every mode by re-rendering: no model run, no credit.
    modes = ["mask", "white", "color", "crop", "shadow", "transparent"]
    for mode in modes:
        form = page.locator("#rerender-form")
        form.locator(f"label.mode-option:has(input[value='{mode}'])").click()
        if mode == "color":
            form.locator("input[type=color]").fill("#ffd166")
        if mode == "transparent":
            form.get_by_label("Format").select_option("webp")
        form.get_by_role("button", name="Re-render · free").click()
        expect(
            page.get_by_text("Re-rendered from the stored matte. No credit was used.")
        ).to_be_visible()
        expect(page.locator("#credits-charged")).to_contain_text("0")
        expect(page.locator("#result-image")).to_be_visible()
        page.wait_for_function("document.getElementById('result-image').naturalWidth > 0")
        if mode in ("mask", "color", "shadow"):
            shot(page, artifacts_dir, f"04-mode-{mode}")
    assert balance_for(workspace).balance == 24
    expect(page.locator("#credits-available")).to_have_text("24")
    versions = Cutout.objects.exclude(pk=first.pk)
    assert versions.count() >= len(modes) and not any(v.credits_charged for v in versions)
    colour = versions.get(options__mode="background", options__bg_color="#ffd166")
    corner = Image.open(colour.result.open("rb")).convert("RGB").getpixel((2, 2))
    assert corner == (255, 209, 102)
    expect(page.locator(".versions li")).to_have_count(versions.count() + 1)
    watch.check_page()

    # A batch of three: per-file upload, then live progress (items processed one by one here,
    # as a worker would, while the pages poll).
    queued: list[Any] = []
    monkeypatch.setattr(
        "cutout.jobs.services.job_enqueue", lambda *, job_id, only=None: queued.append(job_id)
    )
    page.goto(f"{base}/app/")
    page.locator("label.mode-option:has(input[value='white'])").click()
    page.locator("#file-input").set_input_files(
        [
            file_payload("plant.jpg", photo("plant")),
            file_payload("mug.jpg", photo("mug")),
            file_payload("ball.jpg", photo("ball")),
        ]
    )
    summary = page.locator("#batch-summary")
    expect(summary).to_contain_text("0 done · 0 failed · 3 remaining of 3")
    expect(page.locator(".queue-item")).to_have_count(3)
    expect(page.locator(".queue-item[data-state='queued']")).to_have_count(3)
    job = Job.objects.get()
    assert queued == [job.id]
    items = list(JobItem.objects.filter(job=job).order_by("position"))
    from cutout.jobs.processing import job_item_process
    from cutout.jobs.services import job_finish

    job_item_process(item_id=items[0].pk)
    expect(summary).to_contain_text("1 done · 0 failed · 2 remaining of 3")
    expect(page.locator(".queue-item").first).to_have_attribute("data-state", "done")
    shot(page, artifacts_dir, "05-batch-uploading")

    page.get_by_role("link", name="Open batch page").click()
    expect(page.locator("#count-done")).to_have_text("1")
    expect(page.locator("#count-remaining")).to_have_text("2")
    expect(page.locator("#zip-link")).to_be_hidden()
    job_item_process(item_id=items[1].pk)
    expect(page.locator("#count-done")).to_have_text("2")
    job_item_process(item_id=items[2].pk)
    job_finish(job_id=job.pk)
    expect(page.locator("#count-done")).to_have_text("3")
    expect(page.locator("#count-remaining")).to_have_text("0")
    expect(page.locator("#count-failed")).to_have_text("0")
    expect(page.locator("#batch-state")).to_have_text("Finished.")
    expect(page.locator("#zip-link")).to_be_visible()
    page.wait_for_function(
        "[...document.querySelectorAll('.item-thumb img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    shot(page, artifacts_dir, "06-batch-done")
    with page.expect_download() as download_info:
        page.locator("#zip-link").click()
    with zipfile.ZipFile(download_info.value.path()) as zf:
        names = zf.namelist()
    assert sorted(n for n in names if n.endswith(".png")) == ["ball.png", "mug.png", "plant.png"]
    assert balance_for(workspace).balance == 21
    watch.check_page()

    # The library: one card per upload (re-renders live with their cutout), filters.
    page.goto(f"{base}/app/library/")
    expect(page.locator("#library-grid > li")).to_have_count(4)
    page.wait_for_function(
        "[...document.querySelectorAll('#library-grid img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    shot(page, artifacts_dir, "07-library")
    page.get_by_label("Mode").select_option("white")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#library-grid > li")).to_have_count(3)
    page.get_by_label("Mode").select_option("mask")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="Nothing matches these filters")).to_be_visible()
    page.get_by_role("link", name="Clear filters").first.click()
    # Delete one from the library.
    page.get_by_label("Select mug.jpg").check()
    page.get_by_role("button", name="Delete selected").click()
    expect(page.get_by_text("Deleted mug.jpg.")).to_be_visible()  # with an undo
    expect(page.locator("#library-grid > li")).to_have_count(3)
    watch.check_page()

    # Usage per member.
    page.get_by_role("link", name="Usage").click()
    expect(page.locator("#usage-chart svg rect")).not_to_have_count(0)
    expect(page.locator("#members-heading + table")).to_contain_text("maya@example.com")
    shot(page, artifacts_dir, "08-usage")

    # Invite a teammate: a team workspace, then the team page's invitation form.
    page.goto(f"{base}/workspaces/")
    page.get_by_label("Team name").fill("Maya's Shop")
    page.get_by_role("button", name="Create team").click()
    page.wait_for_url(f"{base}/team/")
    page.get_by_label("Email address").fill("sam@example.com")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("Invitation sent to sam@example.com")).to_be_visible()
    expect(page.get_by_role("link", name="Team")).to_have_attribute("aria-current", "page")
    shot(page, artifacts_dir, "09-team-invite")
    watch.check_page()

    # Back to the personal workspace with the account menu's switcher (stays on the page).
    page.locator(".menu > summary").click()
    menu = page.locator(".menu-panel")
    menu.get_by_label("Workspace").select_option(label="Personal")
    menu.get_by_role("button", name="Switch").click()
    expect(page.get_by_text("You are now working in Personal.")).to_be_visible()
    assert page.url == f"{base}/team/"

    # Phone width: the same pages stay usable (no sideways scrolling).
    page.set_viewport_size(PHONE)
    for path, name in (
        ("/app/", "10-phone-home"),
        (f"/app/cutouts/{first.pk}/", "11-phone-result"),
        ("/app/library/", "12-phone-library"),
    ):
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (path, width)
        shot(page, artifacts_dir, name)
    context.close()


def test_states_no_credits_bad_files_failure_signed_out(
    live_server: Any,
    browser: Any,
    artifacts_dir: Path,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.sync_api import expect

    base = live_server.url
    settings.CUTOUT_MAX_UPLOAD_BYTES = 2 * 1024 * 1024
    person = signed_up(credits=0)
    page = browser.new_context(viewport=DESKTOP).new_page()

    # Not signed in: the app asks to log in, clearly.
    page.goto(f"{base}/app/library/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/app/library/"))
    expect(
        page.get_by_text("Log in (or create a free account) to remove backgrounds.")
    ).to_be_visible()
    shot(page, artifacts_dir, "20-signed-out")

    log_in(page, base, person.user.email, person.password)
    expect(page.locator("#no-credits-banner")).to_contain_text("You're out of credits")
    # Keyboard: the first Tab reaches the skip link; the upload button shows a focus ring.
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.locator("#file-input").focus()
    ring = page.locator("label[for=file-input]").evaluate("el => getComputedStyle(el).boxShadow")
    assert "79, 70, 229" in ring, ring

    # Drag and drop, and paste: both reach the server (refused here: no credits, nothing done).
    b64 = base64.b64encode(photo("ball", 320, 240)).decode()
    for event in ("drop", "paste"):
        page.evaluate(
            """([b64, kind]) => {
                const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
                const dt = new DataTransfer();
                dt.items.add(new File([bytes], kind + ".jpg", {type: "image/jpeg"}));
                const e = kind === "drop"
                    ? new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true})
                    : new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true});
                document.dispatchEvent(e);
            }""",
            [b64, event],
        )
        row = page.locator(".queue-item").first
        expect(row.locator(".queue-name")).to_contain_text(f"{event}.jpg")
        expect(row).to_contain_text("You're out of credits")

    # No credits: the upload is refused before any work, with the way to buy more.
    page.locator("#file-input").set_input_files(file_payload("plant.jpg", photo()))
    row = page.locator(".queue-item").first
    expect(row).to_have_attribute("data-state", "failed")
    expect(row).to_contain_text("You're out of credits")
    expect(row.get_by_role("link", name="Buy credits")).to_have_attribute("href", "/billing/")
    shot(page, artifacts_dir, "21-no-credits")

    # Unsupported and too-big files are caught in the browser (limits rendered by the server).
    page.locator("#file-input").set_input_files(
        [
            file_payload("notes.txt", b"hello", "text/plain"),
            file_payload("huge.png", b"\x89PNG" + b"\0" * (3 * 1024 * 1024), "image/png"),
        ]
    )
    rows = page.locator(".queue-item")
    expect(rows.nth(0)).to_contain_text("Unsupported file")
    expect(rows.nth(1)).to_contain_text("File too big")
    expect(rows.nth(1)).to_contain_text("2 MB limit")
    shot(page, artifacts_dir, "22-bad-files")
    # A file that only pretends to be an image is refused by the server, free.
    page.locator("#file-input").set_input_files(file_payload("fake.jpg", b"not really a jpeg"))
    expect(page.locator(".queue-item").first).to_contain_text("Unsupported file")

    # Processing failed: not charged.
    from billing.services import credits_grant

    credits_grant(workspace=person.workspace, amount=3, reason="test", idempotency_key="web-fail")
    from cutout import engine

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("model crashed")

    monkeypatch.setattr(engine, "compute_matte", broken)
    page.reload()
    page.locator("#file-input").set_input_files(file_payload("plant.jpg", photo()))
    row = page.locator(".queue-item").first
    expect(row).to_contain_text("Processing failed")
    expect(row).to_contain_text("not charged")
    assert balance_for(person.workspace).balance == 3
    shot(page, artifacts_dir, "23-processing-failed")
    failed = Cutout.objects.get(status="failed")
    page.goto(f"{base}/app/cutouts/{failed.pk}/")
    expect(page.get_by_role("heading", name="Processing failed")).to_be_visible()
    expect(page.get_by_text("You were not charged.")).to_be_visible()

    # Another workspace's cutout is a 404.
    monkeypatch.undo()
    other = signed_up()
    from cutout.cutouts.services import cutout_create

    theirs = cutout_create(
        workspace=other.workspace, data=photo("mug"), options=engine.Options(pipeline="fast")
    )
    response = page.goto(f"{base}/app/cutouts/{theirs.pk}/")
    assert response is not None and response.status == 404
    response = page.goto(f"{base}/app/cutouts/{theirs.pk}/thumb")
    assert response is not None and response.status == 404
