"""Clipdrop dialect (``POST /remove-background/v1``): its documented call, Accept, credits, errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.factories import balance, make_caller

from .conftest import curl
from .images import image_bytes, open_image

PATH = "/remove-background/v1"


def post(client, secret, data=None, accept=None, **fields):
    if data is not None:
        fields["image_file"] = SimpleUploadedFile("car.jpg", data, content_type="image/jpg")
    extra = {"HTTP_ACCEPT": accept} if accept else {}
    return client.post(PATH, fields, HTTP_X_API_KEY=secret, **extra)


def test_documented_curl(host, live_caller, tmp_path) -> None:
    src = tmp_path / "car.jpg"
    src.write_bytes(image_bytes(300, 200, "JPEG"))
    out = tmp_path / "result.png"
    status, headers, _ = curl(
        "-X", "POST", f"{host}{PATH}",
        "-H", f"x-api-key: {live_caller.secret}",
        "-F", f"image_file=@{src}",
        output=str(out),
    )  # fmt: skip
    assert status == 200 and headers["content-type"] == "image/png"
    image = open_image(out.read_bytes())
    assert image.mode == "RGBA" and image.size == (300, 200)  # the input's dimensions
    assert headers["x-credits-consumed"] == "1" and headers["x-remaining-credits"] == "9"


@pytest.mark.parametrize(
    ("accept", "fmt", "content_type"),
    [
        ("image/webp", "WEBP", "image/webp"),
        ("image/jpg", "JPEG", "image/jpeg"),
        ("image/jpeg", "JPEG", "image/jpeg"),
        ("application/json, text/plain, */*", "PNG", "image/png"),  # axios (Clipdrop's CLI)
        ("image/*", "PNG", "image/png"),
    ],
)
def test_accept_chooses_the_format(client, caller, accept, fmt, content_type) -> None:
    r = post(client, caller.secret, image_bytes(160, 120), accept=accept)
    assert r.status_code == 200 and r["Content-Type"] == content_type
    assert open_image(r.content).format == fmt


def test_transparency_handling(client, caller) -> None:
    rgba = Image.new("RGBA", (160, 120), (200, 30, 30, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    out = io.BytesIO()
    rgba.save(out, "PNG")
    data = out.getvalue()
    # Clipdrop's default: an input with some transparency comes back unchanged, for nothing.
    r = post(client, caller.secret, data)
    assert r.status_code == 200 and r.content == data and r["x-credits-consumed"] == "0"
    assert balance(caller.workspace) == 10
    # discard_alpha_layer: the alpha goes first, then the cutout runs (here a flat red: nothing)
    r = post(client, caller.secret, data, transparency_handling="discard_alpha_layer")
    assert r.status_code == 400 and "foreground" in r.json()["error"]
    r = post(client, caller.secret, data, transparency_handling="keep")
    assert r.status_code == 400 and set(r.json()) == {"error"}
    assert balance(caller.workspace) == 10


def test_errors(client, caller) -> None:
    src = image_bytes(160, 120)
    r = client.post(PATH, {"image_file": SimpleUploadedFile("a.jpg", src)})
    assert r.status_code == 401 and r.json() == {"error": "No api key provided"}
    assert post(client, "ck_wrong", src).status_code == 403
    assert post(client, caller.secret).status_code == 400
    assert post(client, caller.secret, image_bytes(160, 120, "GIF")).status_code == 400
    assert post(client, caller.secret, src, accept="application/json").status_code == 406
    broke = make_caller(credits=0)
    r = post(client, broke.secret, src)
    assert r.status_code == 402 and set(r.json()) == {"error"}
    blank = io.BytesIO()
    Image.new("RGB", (160, 120), (90, 90, 90)).save(blank, "PNG")
    r = post(client, caller.secret, blank.getvalue())
    assert r.status_code == 400 and "foreground" in r.json()["error"]
    r = client.get("/remove-background/v2", HTTP_X_API_KEY=caller.secret)
    assert r.status_code == 404 and set(r.json()) == {"error"}
    assert balance(caller.workspace) == 10
    assert np.asarray(open_image(post(client, caller.secret, src).content)).shape == (120, 160, 4)
