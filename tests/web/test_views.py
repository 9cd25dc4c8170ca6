"""Web views through Django's test client: states, charges, permissions and 404s.

The browser tests (test_browser.py) walk the same pages in Chromium; these pin the server's side
precisely and quickly.
"""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image

from billing.selectors import balance_for
from cutout.models import Cutout, Job, JobItem
from tests.factories import Persona, signed_up
from tests.web.conftest import photo, png_bytes

pytestmark = pytest.mark.django_db(transaction=True)
JSON: dict[str, Any] = {"HTTP_ACCEPT": "application/json"}


def client_for(person: Persona) -> Client:
    client = Client()
    client.force_login(person.user)
    return client


def upload(client: Client, *files: tuple[str, bytes], **options: Any) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    data: dict[str, Any] = {"style": "transparent", "format": "png", "size": "full"}
    data.update(options)
    data["image"] = [
        SimpleUploadedFile(name, content, content_type="image/jpeg") for name, content in files
    ]
    return client.post(reverse("upload"), data, **JSON)


def fetch_file(client: Client, url: str) -> bytes:
    """Follow a signed /files/ URL (absolute, pointing at the test server)."""
    path = url.split("testserver", 1)[-1]
    response = client.get(path)
    assert response.status_code == 200, url
    return b"".join(response.streaming_content)  # type: ignore[attr-defined]


def test_landing_shows_example_and_sign_up() -> None:
    response = Client().get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "img/landing/before.jpg" in html and "img/landing/after.webp" in html
    assert reverse("signup") in html


def test_pages_need_signing_in_with_a_clear_message() -> None:
    client = Client()
    for name in ("home", "library", "batches", "workspace_usage"):
        response = client.get(reverse(name), follow=True)
        assert response.redirect_chain[0][0].startswith(reverse("login")), name
        assert "Log in (or create a free account)" in response.content.decode()
    response = client.post(reverse("upload"), {}, **JSON)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_signed_in"


def test_upload_one_photo_charges_one_credit_and_shows_the_result() -> None:
    person = signed_up()
    client = client_for(person)
    before = balance_for(person.workspace).balance
    response = upload(client, ("plant.jpg", photo()))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "cutout" and body["credits_charged"] == 1
    assert balance_for(person.workspace).balance == before - 1
    cutout = Cutout.objects.get(pk=body["id"])
    assert cutout.source == "web" and cutout.pipeline == "fast"

    page = client.get(body["url"])
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="editor"' in html and "Credits charged" in html  # it opens in the editor
    assert "640 \u00d7 480" in html
    # The result is served by a signed URL and is a real RGBA cutout.
    result_url = page.context["result_url"]
    assert "/files/" in result_url
    image = Image.open(io.BytesIO(fetch_file(client, result_url)))
    assert image.mode == "RGBA" and image.getchannel("A").getextrema() == (0, 255)


def test_rerender_and_other_formats_are_free() -> None:
    person = signed_up()
    client = client_for(person)
    cutout_id = upload(client, ("plant.jpg", photo())).json()["id"]
    after_upload = balance_for(person.workspace).balance

    response = client.post(
        reverse("cutout_rerender", args=[cutout_id]),
        {"style": "color", "bg_color": "#ff0000", "format": "jpeg", "size": "small"},
    )
    assert response.status_code == 302
    new = Cutout.objects.exclude(pk=cutout_id).get()
    assert new.credits_charged == 0 and new.metadata["rerender_of"] == cutout_id
    assert new.options["mode"] == "background" and new.options["bg_color"] == "#ff0000"
    image = Image.open(new.result.open("rb"))
    assert image.format == "JPEG" and max(image.size) == 512
    corner = image.convert("RGB").getpixel((0, 0))
    assert isinstance(corner, tuple)
    assert corner[0] > 200 and corner[1] < 60  # red background

    # Asking for the same look again reuses it; a download in another format is free too.
    client.post(
        reverse("cutout_rerender", args=[new.pk]),
        {"style": "color", "bg_color": "#ff0000", "format": "jpeg", "size": "small"},
    )
    assert Cutout.objects.count() == 2
    response = client.get(reverse("cutout_download", args=[cutout_id, "webp"]))
    assert response.status_code == 302 and "/files/" in response["Location"]
    data = fetch_file(client, response["Location"])
    assert Image.open(io.BytesIO(data)).format == "WEBP"
    zipped = client.get(reverse("cutout_download", args=[cutout_id, "zip"]))
    with zipfile.ZipFile(io.BytesIO(fetch_file(client, zipped["Location"]))) as zf:
        assert sorted(zf.namelist()) == ["alpha.png", "color.jpg"]
    assert balance_for(person.workspace).balance == after_upload


def test_every_mode_at_upload() -> None:
    person = signed_up()
    client = client_for(person)
    expected = {
        "transparent": ("transparent", False),
        "mask": ("mask", False),
        "white": ("background", False),
        "color": ("background", False),
        "crop": ("transparent", True),
        "shadow": ("shadow", False),
    }
    for style, (mode, crop) in expected.items():
        response = upload(client, (f"{style}.jpg", photo("mug")), style=style, bg_color="#00ff00")
        assert response.status_code == 201, (style, response.content)
        cutout = Cutout.objects.get(pk=response.json()["id"])
        assert cutout.options["mode"] == mode and cutout.options["crop"] is crop, style
    crop_cut = Cutout.objects.get(input_name="crop.jpg")
    assert (crop_cut.result_width or 0) < 640 and (crop_cut.result_height or 0) < 480
    mask = Image.open(Cutout.objects.get(input_name="mask.jpg").result.open("rb"))
    assert mask.mode == "L"


@pytest.mark.parametrize(
    ("name", "content", "status", "code"),
    [
        ("notes.jpg", b"this is not an image at all", 415, "unsupported_file"),
        ("tiny.png", png_bytes(8, 8), 400, "image_too_small"),
    ],
)
def test_bad_files_are_refused_and_free(name: str, content: bytes, status: int, code: str) -> None:
    person = signed_up()
    client = client_for(person)
    before = balance_for(person.workspace).balance
    response = upload(client, (name, content))
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and error["charged"] is False
    assert balance_for(person.workspace).balance == before


def test_file_too_big(settings: Any) -> None:
    settings.CUTOUT_MAX_UPLOAD_BYTES = 10_000
    person = signed_up()
    response = upload(client_for(person), ("big.jpg", photo()))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_big"
    # The limit is rendered into the page for the browser's own check.
    page = client_for(person).get(reverse("home"))
    assert '"max_bytes": 10000' in page.content.decode()


def test_no_credits_state() -> None:
    person = signed_up(credits=0)
    client = client_for(person)
    response = upload(client, ("plant.jpg", photo()))
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "no_credits" and error["action_url"] == reverse("billing")
    assert not Cutout.objects.filter(status=Cutout.Status.SUCCEEDED).exists()
    page = client.get(reverse("home")).content.decode()
    assert "You&#x27;re out of credits" in page or "You're out of credits" in page
    # Without JavaScript the same state is a page.
    from django.core.files.uploadedfile import SimpleUploadedFile

    plain = client.post(
        reverse("upload"),
        {
            "style": "transparent",
            "format": "png",
            "size": "full",
            "image": SimpleUploadedFile("a.jpg", photo()),
        },
    )
    assert plain.status_code == 402 and b'id="upload-problem"' in plain.content


def test_processing_failure_is_not_charged(monkeypatch: pytest.MonkeyPatch) -> None:
    from cutout import engine

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("model crashed")

    monkeypatch.setattr(engine, "compute_matte", broken)
    person = signed_up()
    before = balance_for(person.workspace).balance
    response = upload(client_for(person), ("plant.jpg", photo()))
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "processing_failed"
    assert balance_for(person.workspace).balance == before
    failed = Cutout.objects.get()
    assert failed.status == "failed" and failed.credits_charged == 0
    page = client_for(person).get(reverse("cutout_detail", args=[failed.pk])).content.decode()
    assert "You were not charged" in page


def test_batch_of_three_with_progress_and_zip() -> None:
    person = signed_up()
    client = client_for(person)
    before = balance_for(person.workspace).balance
    response = upload(
        client,
        ("plant.jpg", photo("plant")),
        ("mug.jpg", photo("mug")),
        ("broken.jpg", b"not an image"),
        style="white",
        format="jpeg",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "batch" and body["total"] == 3
    status = client.get(body["status_url"]).json()
    assert (status["done"], status["failed"], status["remaining"]) == (2, 1, 0)
    assert status["closed"] and status["zip_url"]
    failed = [item for item in status["items"] if item["status"] == "failed"]
    assert failed[0]["name"] == "broken.jpg" and failed[0]["error_message"]
    assert balance_for(person.workspace).balance == before - 2
    zipped = client.get(status["zip_url"])
    with zipfile.ZipFile(io.BytesIO(fetch_file(client, zipped["Location"]))) as zf:
        names = zf.namelist()
    assert "manifest.csv" in names and len([n for n in names if n.endswith(".jpg")]) == 2
    page = client.get(body["url"]).content.decode()
    assert 'id="count-done">2<' in page and "not charged" in page


def test_library_filters_pagination_and_delete(settings: Any) -> None:
    person = signed_up()
    client = client_for(person)
    for style in ("transparent", "mask", "white"):
        assert upload(client, (f"{style}.jpg", photo()), style=style).status_code == 201
    page = client.get(reverse("library"))
    assert len(page.context["page"].object_list) == 3
    masks = client.get(reverse("library"), {"mode": "mask"}).context["page"].object_list
    assert [c.input_name for c in masks] == ["mask.jpg"]
    mine = client.get(reverse("library"), {"member": str(person.user.pk), "date": "today"})
    assert len(mine.context["page"].object_list) == 3
    assert not client.get(reverse("library"), {"member": "api"}).context["page"].object_list

    from cutout.web.views import library as views

    monkey = views.PAGE_SIZE
    views.PAGE_SIZE = 2
    try:
        second = client.get(reverse("library"), {"page": 2})
        assert len(second.context["page"].object_list) == 1
    finally:
        views.PAGE_SIZE = monkey

    thumb = client.get(reverse("cutout_thumb", args=[masks[0].pk]))
    assert thumb.status_code == 302
    assert Image.open(io.BytesIO(fetch_file(client, thumb["Location"]))).format == "WEBP"

    ids = [str(c.pk) for c in Cutout.objects.filter(input_name__in=["mask.jpg", "white.jpg"])]
    files = [str(Cutout.objects.get(pk=i).result.name) for i in ids]
    response = client.post(reverse("library"), {"cutout": ids})
    assert response.status_code == 302
    # Hidden at once (the undo keeps the files a while), purged by the sweep after the window.
    listed = client.get(reverse("library")).context["page"].object_list
    assert [c.input_name for c in listed] == ["transparent.jpg"]
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from cutout.files.retention import UNDO_WINDOW, retention_sweep

    assert all(default_storage.exists(name) for name in files)
    retention_sweep(now=timezone.now() + UNDO_WINDOW + timedelta(seconds=1))
    assert list(Cutout.objects.values_list("input_name", flat=True)) == ["transparent.jpg"]
    assert not any(default_storage.exists(name) for name in files)


def test_another_workspace_is_a_404() -> None:
    owner, stranger = signed_up(), signed_up()
    client = client_for(owner)
    cutout_id = upload(client, ("plant.jpg", photo())).json()["id"]
    batch = upload(client, ("a.jpg", photo("plant")), ("b.jpg", photo("mug"))).json()
    other = client_for(stranger)
    for url in (
        reverse("cutout_detail", args=[cutout_id]),
        reverse("cutout_thumb", args=[cutout_id]),
        reverse("cutout_download", args=[cutout_id, "png"]),
        reverse("batch_detail", args=[batch["id"]]),
        reverse("batch_status", args=[batch["id"]]),
        reverse("batch_zip", args=[batch["id"]]),
        reverse("cutout_detail", args=["not-a-uuid"]),
    ):
        assert other.get(url).status_code == 404, url
    assert (
        other.post(reverse("cutout_rerender", args=[cutout_id]), {"style": "mask"}).status_code
        == 404
    )
    assert other.post(reverse("cutout_delete", args=[cutout_id])).status_code == 404
    other.post(reverse("library"), {"cutout": [cutout_id]})
    assert Cutout.objects.filter(pk=cutout_id).exists()
    assert Job.objects.filter(pk=batch["id"]).exists()
    assert JobItem.objects.filter(job_id=batch["id"]).count() == 2


def test_usage_page_per_member() -> None:
    person = signed_up()
    client = client_for(person)
    upload(client, ("plant.jpg", photo()))
    upload(client, ("mug.jpg", photo("mug")))
    page = client.get(reverse("workspace_usage"))
    assert page.status_code == 200
    members = page.context["members"]
    assert [(s.label, s.total) for s in members] == [(person.user.email, 2)]
    assert "<svg" in page.content.decode()


def test_one_zip_makes_a_batch() -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    person = signed_up()
    client = client_for(person)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("shop/plant.jpg", photo("plant"))
        zf.writestr("shop/ball.jpg", photo("ball"))
        zf.writestr("__MACOSX/._plant.jpg", b"junk")
    upload_file = SimpleUploadedFile("shop.zip", archive.getvalue(), content_type="application/zip")
    response = client.post(
        reverse("upload"),
        {"style": "mask", "format": "png", "size": "small", "image": upload_file},
        **JSON,
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "batch" and body["done"] == 2 and body["failed"] == 0
    assert sorted(item["name"] for item in body["items"]) == ["shop/ball.jpg", "shop/plant.jpg"]
