"""Guided refinement through the native API: contract, versions, errors, zero charge, replay."""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image, ImageDraw

from billing.models import LedgerEntry
from cutout.models import Cutout, CutoutVersion
from tests.factories import balance, make_caller

CUTOUTS = "/api/v1/cutouts"
W, H = 320, 240
SQUARE = (200, 80, 280, 160)  # the second object the model keeps
REMOVE_SQUARE = [{"kind": "remove", "x": 240, "y": 120}]


def auth(caller) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {caller.secret}"}


def two_objects_png() -> bytes:
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[:] = np.linspace(170, 210, W).astype(np.uint8)[None, :, None]
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    draw.ellipse((40, 40, 140, 200), fill=(200, 30, 30))
    draw.rectangle(SQUARE, fill=(30, 60, 200))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def upload(client, caller, **fields) -> dict:
    r = client.post(
        CUTOUTS,
        {"image": SimpleUploadedFile("two.png", two_objects_png()), "mode": "mask", **fields},
        **auth(caller),
    )
    assert r.status_code == 201, r.content[:400]
    return r.json()


def refine(client, caller, cutout_id: str, body: dict):
    return client.post(
        f"{CUTOUTS}/{cutout_id}/refine", body, content_type="application/json", **auth(caller)
    )


def mask_of(client, body: dict) -> np.ndarray:
    got = client.get(body["result"]["url"].removeprefix("http://testserver"))
    data = b"".join(got.streaming_content)
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"))


def square_fg(mask: np.ndarray) -> float:
    x0, y0, x1, y1 = SQUARE
    return float((mask[y0:y1, x0:x1] >= 128).mean())


def test_refine_answers_the_cutout_with_the_refined_result_and_charges_nothing(client, caller):
    made = upload(client, caller)
    assert made["refined"] is False and made["version"] == 0 and made["editable"] is True
    assert made["original"]["url"].startswith("http://testserver/files/")
    assert square_fg(mask_of(client, made)) > 0.9
    credits, entries = balance(caller.workspace), LedgerEntry.objects.count()

    r = refine(client, caller, made["id"], {"hints": REMOVE_SQUARE, "mode": "mask"})
    assert r.status_code == 200, r.content[:400]
    body = r.json()
    assert body["id"] == made["id"] and body["object"] == "cutout"
    assert body["hints"] == REMOVE_SQUARE and body["refined"] is True and body["version"] == 1
    assert r["X-Credits-Charged"] == "0" and body["credits_charged"] == 1  # the upload's only
    mask = mask_of(client, body)
    assert mask.shape == (H, W) and square_fg(mask) == 0.0
    assert (mask[60:180, 60:120] >= 128).mean() > 0.95
    assert balance(caller.workspace) == credits and LedgerEntry.objects.count() == entries

    shown = client.get(f"{CUTOUTS}/{made['id']}", **auth(caller)).json()
    assert shown["version"] == 1 and shown["hints"] == REMOVE_SQUARE
    assert square_fg(mask_of(client, shown)) == 0.0


def test_each_call_replaces_the_hints_and_keeps_versions(client, caller):
    made = upload(client, caller)
    first = refine(client, caller, made["id"], {"hints": REMOVE_SQUARE}).json()
    box = [{"kind": "box", "box": [10, 10, 170, 230]}]
    second = refine(client, caller, made["id"], {"hints": box}).json()
    assert second["hints"] == box and second["version"] == 2
    reset = refine(client, caller, made["id"], {"hints": []}).json()
    assert reset["refined"] is False and reset["version"] == 3
    assert square_fg(mask_of(client, reset)) > 0.9  # the automatic matte again
    versions = list(CutoutVersion.objects.filter(cutout_id=made["id"]).order_by("number"))
    assert [v.number for v in versions] == [0, 1, 2, 3]
    assert [v.hints for v in versions] == [[], REMOVE_SQUARE, box, []]
    assert versions[3].matte.name == versions[0].matte.name  # a list seen before: reused
    assert first["version"] == 1


def test_the_same_hints_twice_give_byte_identical_masks(client, caller):
    made = upload(client, caller)
    hints = [{"kind": "box", "box": [10, 10, 170, 230]}, {"kind": "keep", "x": 90, "y": 120}]
    one = refine(client, caller, made["id"], {"hints": hints}).json()
    refine(client, caller, made["id"], {"hints": REMOVE_SQUARE})
    two = refine(client, caller, made["id"], {"hints": hints}).json()
    assert mask_of(client, one).tobytes() == mask_of(client, two).tobytes()
    # And from scratch, on another upload of the same image (no version to reuse).
    again = upload(make_client(), other := make_caller())
    three = refine(make_client(), other, again["id"], {"hints": hints}).json()
    assert mask_of(client, three).tobytes() == mask_of(client, one).tobytes()


def make_client():
    from django.test import Client

    return Client()


def test_output_options_apply_and_default_to_the_current_ones(client, caller):
    made = upload(client, caller)
    r = refine(client, caller, made["id"], {"hints": REMOVE_SQUARE, "mode": "transparent"})
    body = r.json()
    assert body["options"]["mode"] == "transparent" and body["options"]["pipeline"] == "fast"
    assert body["result"]["content_type"] == "image/png"
    kept = refine(client, caller, made["id"], {"hints": REMOVE_SQUARE}).json()
    assert kept["options"]["mode"] == "transparent"
    bad = refine(client, caller, made["id"], {"hints": REMOVE_SQUARE, "mode": "sparkle"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "mode"


def test_bad_hints_are_400_and_store_nothing(client, caller):
    made = upload(client, caller)
    cutout = Cutout.objects.get(pk=made["id"])
    credits = balance(caller.workspace)
    for body, words in (
        ({"hints": [{"kind": "grow", "x": 1, "y": 1}]}, "unknown kind"),
        ({"hints": [{"kind": "keep", "x": W + 5, "y": 1}]}, "outside the image"),
        ({"hints": [{"kind": "keep", "x": 1, "y": 1}] * 101}, "at most 100"),
        ({"hints": [{"kind": "box", "box": "all"}]}, "box must be"),
        ({"hints": "nope"}, "JSON list"),
        ({"mode": "mask"}, "complete hint list"),
    ):
        r = refine(client, caller, made["id"], body)
        assert r.status_code == 400, r.content
        error = r.json()["error"]
        assert error["code"] == "invalid_parameter" and error["field"] == "hints"
        assert words in error["message"]
    after = Cutout.objects.get(pk=made["id"])
    assert after.matte.name == cutout.matte.name and after.version == 0
    assert not CutoutVersion.objects.filter(cutout=after).exists()
    assert balance(caller.workspace) == credits


def test_other_workspaces_cutouts_are_404_and_get_is_405(client, caller):
    made = upload(client, caller)
    other = make_caller()
    r = refine(client, other, made["id"], {"hints": REMOVE_SQUARE})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert refine(client, caller, "not-a-uuid", {"hints": []}).status_code == 404
    got = client.get(f"{CUTOUTS}/{made['id']}/refine", **auth(caller))
    assert got.status_code == 405
    assert client.post(f"{CUTOUTS}/{made['id']}/refine", {}).status_code == 401


def test_after_the_editing_window_refining_is_refused(client, caller):
    made = upload(client, caller)
    Cutout.objects.filter(pk=made["id"]).update(editable_until=timezone.now() - timedelta(1))
    r = refine(client, caller, made["id"], {"hints": REMOVE_SQUARE})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    assert "editing window" in r.json()["error"]["message"]
    shown = client.get(f"{CUTOUTS}/{made['id']}", **auth(caller)).json()
    assert shown["editable"] is False and shown["editable_until"] is None


def test_refine_is_rate_limited_like_every_endpoint(client, caller, settings):
    made = upload(client, caller)
    settings.CUTOUT_API_RATE_LIMIT = 1
    refused = refine(client, caller, made["id"], {"hints": REMOVE_SQUARE})
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1


def test_hints_at_upload_refine_it_for_the_one_credit(client, caller):
    credits = balance(caller.workspace)
    made = upload(client, caller, hints='[{"kind": "box", "box": [10, 10, 170, 230]}]')
    assert made["refined"] is True and made["version"] == 1 and made["credits_charged"] == 1
    assert made["hints"] == [{"kind": "box", "box": [10, 10, 170, 230]}]
    assert square_fg(mask_of(client, made)) == 0.0
    assert balance(caller.workspace) == credits - 1
    r = client.post(
        CUTOUTS,
        {"image": SimpleUploadedFile("two.png", two_objects_png()), "hints": "[{]"},
        **auth(caller),
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "hints"
    assert balance(caller.workspace) == credits - 1


def test_removebg_roi_is_a_box(client, caller):
    r = client.post(
        "/v1.0/removebg",
        {
            "image_file": SimpleUploadedFile("two.png", two_objects_png()),
            "roi": "10px 10px 170px 230px",
            "channels": "alpha",
        },
        HTTP_X_API_KEY=caller.secret,
    )
    assert r.status_code == 200, r.content[:300]
    mask = np.asarray(Image.open(io.BytesIO(r.content)).convert("L"))
    assert mask.shape == (H, W) and square_fg(mask) == 0.0
    bad = client.post(
        "/v1.0/removebg",
        {"image_file": SimpleUploadedFile("two.png", two_objects_png()), "roi": "0 0 9000px 1"},
        HTTP_X_API_KEY=caller.secret,
    )
    assert bad.status_code == 400
