"""Pixian dialect (``POST /api/v2/remove-background``): its documented calls, test mode, errors."""

from __future__ import annotations

import base64
import io

import numpy as np
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.factories import balance, make_caller

from .conftest import curl
from .images import image_bytes, open_image

PATH = "/api/v2/remove-background"


def basic(secret: str) -> dict[str, str]:
    token = base64.b64encode(f"xyz123:{secret}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def post(client, secret, data=None, **fields):
    if data is not None:
        fields["image"] = SimpleUploadedFile("example.jpeg", data)
    return client.post(PATH, fields, **basic(secret))


def errors_of(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    error = response.json()["error"]
    assert error["status"] == status and isinstance(error["code"], int) and error["message"]
    return error


def test_documented_curl(host, live_caller, tmp_path) -> None:
    src = tmp_path / "example.jpeg"
    src.write_bytes(image_bytes(300, 200, "JPEG"))
    out = tmp_path / "pixian_result.png"
    # curl https://api.pixian.ai/api/v2/remove-background -u xyz123:[secret] -F image=@example.jpeg
    status, headers, _ = curl(
        f"{host}{PATH}", "-u", f"xyz123:{live_caller.secret}", "-F", f"image=@{src}",
        output=str(out),
    )  # fmt: skip
    assert status == 200 and headers["x-credits-charged"] == "1"
    image = open_image(out.read_bytes())
    assert image.mode == "RGBA" and image.size == (300, 200)


def test_test_mode_is_free_and_watermarked(client, caller) -> None:
    src = image_bytes(300, 200, "JPEG")
    broke = make_caller(credits=0)
    r = post(client, broke.secret, src, test="true")
    assert r.status_code == 200 and r["X-Credits-Charged"] == "0"
    assert r["X-Credits-Calculated"] == "1"
    marked = np.asarray(open_image(r.content).getchannel("A"))
    clean = np.asarray(open_image(post(client, caller.secret, src).content).getchannel("A"))
    # The mark adds alpha where the clean cutout is fully transparent.
    assert marked[clean == 0].max() > 40 and (marked != clean).mean() > 0.05
    assert errors_of(post(client, broke.secret, src), 402)["code"] == 3001  # production: paid


def test_options_as_the_sdk_sends_them(client, caller) -> None:
    src = image_bytes(400, 300, "JPEG")
    r = post(
        client, caller.secret, src,
        max_pixels="25000000", **{
            "result.crop_to_foreground": "True", "result.margin": "5%",
            "background.color": "#ffffff", "output.format": "auto", "output.jpeg_quality": "75",
            "result.vertical_alignment": "",
        },
    )  # fmt: skip
    assert r.status_code == 200, r.content[:300]
    image = open_image(r.content)
    assert image.format == "JPEG" and image.width < 400  # opaque -> JPEG, cropped
    r = post(client, caller.secret, src, max_pixels="30000")
    shrunk = open_image(r.content)
    assert shrunk.width * shrunk.height <= 30000 and r["X-Max-Width"] == str(shrunk.width)
    b64 = base64.b64encode(image_bytes(160, 120, "PNG")).decode()
    r = client.post(PATH, {"image.base64": b64, "output.format": "png"}, **basic(caller.secret))
    assert r.status_code == 200 and open_image(r.content).format == "PNG"


def test_errors(client, caller) -> None:
    src = image_bytes(160, 120)
    r = client.post(PATH, {"image": SimpleUploadedFile("a.jpg", src)})
    errors_of(r, 401)
    assert r["WWW-Authenticate"].startswith("Basic")
    errors_of(post(client, "wrong", src), 401)
    errors_of(post(client, caller.secret), 400)
    errors_of(post(client, caller.secret, src, **{"output.format": "delta_png"}), 400)
    errors_of(post(client, caller.secret, src, **{"result.target_size": "2000 2000"}), 400)
    errors_of(post(client, caller.secret, src, max_pixels="50"), 400)
    errors_of(post(client, caller.secret, src, **{"background.color": "#zzz"}), 400)
    blank = io.BytesIO()
    Image.new("RGB", (160, 120), (30, 30, 200)).save(blank, "PNG")
    assert errors_of(post(client, caller.secret, blank.getvalue()), 400)["code"] == 2009
    errors_of(client.get("/api/v2/nothing", **basic(caller.secret)), 404)
    assert balance(caller.workspace) == 10


def test_account(client, caller) -> None:
    r = client.get("/api/v2/account", **basic(caller.secret))
    assert r.status_code == 200 and r.json()["credits"] == 10 and r.json()["state"] == "active"


def test_pixian_sdk(host, live_caller, tmp_path, monkeypatch) -> None:
    """The ``pixian-ai`` package hard-codes its URL inside the call; a ``requests`` stand-in that
    rewrites only the host is the one way to point it here."""
    import pixian_ai.client

    class HostOnly:
        codes = requests.codes

        @staticmethod
        def post(url: str, **kwargs):
            return requests.post(url.replace("https://api.pixian.ai", host), **kwargs)

    monkeypatch.setattr(pixian_ai.client, "requests", HostOnly)
    src = tmp_path / "example.jpeg"
    src.write_bytes(image_bytes(300, 200, "JPEG"))
    result = pixian_ai.PixianAI("xyz123", live_caller.secret).remove_background(image_path=str(src))
    image = open_image(bytes(result.content if hasattr(result, "content") else result))
    assert image.size == (300, 200) and image.mode == "RGBA"
