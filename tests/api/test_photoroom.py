"""Photoroom dialect (``POST /v1/segment``): its documented calls, fields, headers and errors."""

from __future__ import annotations

import base64
import io

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.factories import balance, make_caller

from .conftest import curl
from .images import image_bytes, open_image

PATH = "/v1/segment"


def post(client, secret, data=None, accept=None, **fields):
    if data is not None:
        fields["image_file"] = SimpleUploadedFile("image.jpg", data)
    extra = {"HTTP_ACCEPT": accept} if accept else {}
    return client.post(PATH, fields, HTTP_X_API_KEY=secret, **extra)


def errors_of(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"detail", "status_code", "type"}
    assert body["status_code"] == status and body["type"] == kind
    return body


def test_documented_curl(host, live_caller, tmp_path) -> None:
    src = tmp_path / "image.jpg"
    src.write_bytes(image_bytes(300, 200, "JPEG"))
    out = tmp_path / "result.png"
    status, headers, _ = curl(
        "--request", "POST", "--url", f"{host}{PATH}",
        "--header", f"x-api-key: {live_caller.secret}",
        "--form", f"image_file=@{src}",
        output=str(out),
    )  # fmt: skip
    assert status == 200 and headers["content-type"] == "image/png"
    image = open_image(out.read_bytes())
    assert image.mode == "RGBA" and image.size == (300, 200)  # size=full by default
    assert 0.0 <= float(headers["x-uncertainty-score"]) <= 1.0


def test_fields(client, caller) -> None:
    src = image_bytes(1000, 800, "JPEG")
    r = post(client, caller.secret, src, size="preview")
    image = open_image(r.content)
    assert image.width * image.height <= 250_000 and r["X-Credits-Charged"] == "0"  # free
    r = post(client, caller.secret, src, size="medium", format="jpg", bg_color="#FF00FF")
    image = open_image(r.content)
    assert r["Content-Type"] == "image/jpeg" and image.width * image.height <= 1_500_000
    assert np.abs(np.asarray(image.convert("RGB"))[2, 2].astype(int) - [255, 0, 255]).max() < 24
    r = post(client, caller.secret, src, size="hd", channels="alpha", crop="true")
    mask = open_image(r.content)
    assert mask.mode == "L" and mask.size != (1000, 800)  # cropped to the subject
    r = post(client, caller.secret, src, size="preview", format="webp", despill="true")
    assert open_image(r.content).format == "WEBP"
    r = post(client, caller.secret, src, size="preview", accept="application/json")
    assert open_image(base64.b64decode(r.json()["base64img"])).mode == "RGBA"
    assert balance(caller.workspace) == 8  # medium and hd; the previews were free


def test_errors(client, caller) -> None:
    src = image_bytes(160, 120)
    errors_of(post(client, caller.secret), 400, "missing_image")
    errors_of(post(client, caller.secret, src, size="huge"), 400, "invalid_parameter")
    errors_of(post(client, caller.secret, src, bg_color="nope"), 400, "invalid_parameter")
    errors_of(post(client, caller.secret, src, crop="maybe"), 400, "invalid_parameter")
    errors_of(post(client, "sandbox_abc", src), 403, "forbidden")
    errors_of(post(client, make_caller(credits=0).secret, src, size="hd"), 402, "payment_required")
    blank = io.BytesIO()
    Image.new("RGB", (160, 120), (10, 200, 10)).save(blank, "PNG")
    errors_of(post(client, caller.secret, blank.getvalue()), 400, "unknown_foreground")
    assert balance(caller.workspace) == 10


def test_account(client, caller) -> None:
    r = client.get("/v1/account", HTTP_X_API_KEY=caller.secret)
    assert r.status_code == 200 and r.json() == {"credits": {"available": 10, "subscription": 0}}
