"""The re-render form's backgrounds (issue 19): a preset picture, the user's own picture and a
blur of the photo's own background, each a free version of the stored matte; bad pictures are
refused in words, with nothing charged; the presets are the ones the project's code draws."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from billing.selectors import balance_for
from cutout.models import Cutout
from cutout.tools import backgrounds
from tests.factories import signed_up
from tests.web.conftest import photo, png_bytes
from tests.web.test_views import client_for, upload

pytestmark = pytest.mark.django_db

LOOK = {"format": "jpeg", "size": "full"}


def _made(person: Any) -> tuple[Any, str]:
    client = client_for(person)
    cutout_id = upload(client, ("plant.jpg", photo())).json()["id"]
    return client, cutout_id


def _said(response: Any) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def _corner(cutout: Cutout) -> list[int]:
    with cutout.result.open("rb") as handle:
        return np.asarray(Image.open(handle).convert("RGB"))[2, 2].tolist()


def test_a_preset_picture_goes_behind_the_subject_for_free() -> None:
    person = signed_up()
    client, cutout_id = _made(person)
    before = balance_for(person.workspace).balance
    page = client.get(reverse("cutout_detail", args=[cutout_id])).content.decode()
    assert "backgrounds/studio-floor-thumb.jpg" in page and 'value="photo"' in page
    response = client.post(
        reverse("cutout_rerender", args=[cutout_id]),
        {"style": "photo", "bg_preset": "studio-floor", **LOOK},
    )
    assert response.status_code == 302
    new = Cutout.objects.exclude(pk=cutout_id).get()
    assert new.credits_charged == 0 and new.options["bg_image"].startswith("sha256:")
    drawn = np.asarray(backgrounds.studio_floor(*backgrounds.SIZE))
    # The top left of the result is the picture's top left, scaled to cover (the wall's grey).
    assert np.abs(np.asarray(_corner(new)) - drawn[3, 3]).max() < 24
    assert balance_for(person.workspace).balance == before
    detail = client.get(reverse("cutout_detail", args=[new.pk])).content.decode()
    assert "Picture" in detail


def test_the_users_own_picture_and_a_damaged_or_missing_one() -> None:
    person = signed_up()
    client, cutout_id = _made(person)
    before = balance_for(person.workspace).balance
    url = reverse("cutout_rerender", args=[cutout_id])
    out = io.BytesIO()
    Image.new("RGB", (30, 20), (20, 200, 40)).save(out, "PNG")
    green = SimpleUploadedFile("green.png", out.getvalue(), content_type="image/png")
    client.post(url, {"style": "photo", "bg_preset": "upload", "bg_file": green, **LOOK})
    new = Cutout.objects.exclude(pk=cutout_id).get()
    assert new.credits_charged == 0
    r, g, b = _corner(new)
    assert g > 170 and r < 60 and b < 80

    out = io.BytesIO()
    Image.new("RGB", (300, 200), (200, 10, 10)).save(out, "JPEG")
    broken = SimpleUploadedFile("cut.jpg", out.getvalue()[:400], content_type="image/jpeg")
    response = client.post(
        url, {"style": "photo", "bg_preset": "upload", "bg_file": broken, **LOOK}
    )
    said = _said(response)
    assert "damaged" in said and "Nothing was charged" in said
    nothing = client.post(url, {"style": "photo", "bg_preset": "upload", **LOOK})
    assert "Choose a picture file" in _said(nothing)
    assert Cutout.objects.count() == 2 and balance_for(person.workspace).balance == before


def test_a_picture_over_the_limits_is_refused(settings: Any) -> None:
    person = signed_up()
    client, cutout_id = _made(person)
    url = reverse("cutout_rerender", args=[cutout_id])
    settings.CUTOUT_MAX_UPLOAD_BYTES = 300_000
    big = SimpleUploadedFile("big.png", b"\x89PNG" + b"0" * 400_000, content_type="image/png")
    said = _said(
        client.post(url, {"style": "photo", "bg_preset": "upload", "bg_file": big, **LOOK})
    )
    assert "at most 0.3 MB" in said and "Nothing was charged" in said
    settings.CUTOUT_MAX_UPLOAD_BYTES = 50_000_000
    settings.CUTOUT_MAX_PIXELS = 10_000
    wide = SimpleUploadedFile("wide.png", png_bytes(200, 100), content_type="image/png")
    said = _said(
        client.post(url, {"style": "photo", "bg_preset": "upload", "bg_file": wide, **LOOK})
    )
    assert "Nothing was charged" in said and "megapixel" in said.lower()
    assert Cutout.objects.count() == 1


def test_blur_needs_the_original_and_says_so_when_it_is_gone() -> None:
    person = signed_up()
    client, cutout_id = _made(person)
    url = reverse("cutout_rerender", args=[cutout_id])
    client.post(url, {"style": "blur", "bg_blur": "2%", **LOOK})
    blurred = Cutout.objects.exclude(pk=cutout_id).get()
    assert blurred.credits_charged == 0 and blurred.options["bg_blur"] == "2%"
    page = client.get(reverse("cutout_detail", args=[blurred.pk])).content.decode()
    assert 'value="blur"' in page and "blur-off-note" not in page

    source = Cutout.objects.get(pk=cutout_id)
    source.original.delete(save=True)  # the editing window is over: the original is gone
    page = client.get(reverse("cutout_detail", args=[cutout_id])).content.decode()
    assert "no longer kept" in page and 'disabled aria-describedby="blur-off-note"' in page
    said = _said(client.post(url, {"style": "blur", "bg_blur": "4%", **LOOK}))
    assert "no longer kept" in said and "Nothing was charged" in said
    assert Cutout.objects.count() == 2


def test_the_committed_presets_are_the_ones_the_code_draws() -> None:
    assert set(backgrounds.differences().values()) and max(backgrounds.differences().values()) < 3
    for name in backgrounds.PRESETS:
        with Image.open(backgrounds.FOLDER / f"{name}-thumb.jpg") as thumb:
            assert thumb.size == backgrounds.THUMB
