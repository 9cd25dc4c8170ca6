"""remove.bg dialect (``POST /v1.0/removebg``): its published samples and its error shape."""

from __future__ import annotations

import base64
import io
import zipfile

import numpy as np
import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.factories import balance, make_caller
from tests.image_server import serving_image

from .conftest import curl
from .images import image_bytes, open_image

PATH = "/v1.0/removebg"


def test_sample_curl(host, live_caller, tmp_path) -> None:
    src = tmp_path / "file.jpg"
    src.write_bytes(image_bytes(400, 300, "JPEG"))
    out = tmp_path / "no-bg.png"
    # remove.bg's sample: curl -H 'X-API-Key: …' -F 'image_file=@…' -F 'size=auto' -f URL -o no-bg.png
    status, headers, _ = curl(
        "-H", f"X-API-Key: {live_caller.secret}",
        "-F", f"image_file=@{src}",
        "-F", "size=auto",
        "-f", f"{host}{PATH}",
        output=str(out),
    )  # fmt: skip
    assert status == 200
    image = open_image(out.read_bytes())
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (400, 300)
    assert headers["x-width"] == "400" and headers["x-height"] == "300"
    assert headers["x-credits-charged"] == "1" and headers["x-type"] == "other"
    top, left = int(headers["x-foreground-top"]), int(headers["x-foreground-left"])
    width, height = int(headers["x-foreground-width"]), int(headers["x-foreground-height"])
    alpha = np.asarray(image.getchannel("A"))
    ys, xs = np.nonzero(alpha > 10)
    assert (top, left) == (ys.min(), xs.min())
    assert (width, height) == (xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    assert 0 < width < 400 and 0 < height < 300


def test_sample_python(host, live_caller, tmp_path) -> None:
    (tmp_path / "file.jpg").write_bytes(image_bytes(400, 300, "JPEG"))
    # remove.bg's Python sample (requests), with the URL changed.
    response = requests.post(
        f"{host}/v1.0/removebg",
        files={"image_file": open(tmp_path / "file.jpg", "rb")},  # noqa: SIM115 - as the sample
        data={"size": "auto"},
        headers={"X-Api-Key": live_caller.secret},
        timeout=60,
    )
    assert response.status_code == requests.codes.ok
    with open(tmp_path / "no-bg.png", "wb") as out:
        out.write(response.content)
    assert open_image((tmp_path / "no-bg.png").read_bytes()).mode == "RGBA"


def test_default_size_is_preview_and_json_answer(host, live_caller) -> None:
    r = requests.post(
        f"{host}{PATH}",
        data={"image_file_b64": base64.b64encode(image_bytes(1000, 800, "JPEG")).decode()},
        headers={"X-Api-Key": live_caller.secret, "Accept": "application/json"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert set(data) == {
        "result_b64",
        "foreground_top",
        "foreground_left",
        "foreground_width",
        "foreground_height",
    }
    image = open_image(base64.b64decode(data["result_b64"]))
    assert image.width * image.height <= 250_000 and image.width / image.height == pytest.approx(
        1.25, 0.01
    )
    assert r.headers["X-Width"] == str(image.width)
    assert data["foreground_width"] == int(r.headers["X-Foreground-Width"]) > 0


@pytest.fixture
def image_server(settings):
    """A local server the operator allows (CUTOUT_FETCH_ALLOWED_NETWORKS), serving one JPEG."""
    with serving_image(settings, image_bytes(300, 200, "JPEG"), "/shop/shoe.jpg") as url:
        yield url


def test_image_url_json_body(host, live_caller, image_server) -> None:
    r = requests.post(
        f"{host}{PATH}",
        json={"image_url": image_server, "size": "full", "format": "jpg", "bg_color": "81d4fa"},
        headers={"X-Api-Key": live_caller.secret},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "image/jpeg"
    pixels = np.asarray(open_image(r.content))
    assert pixels.shape == (200, 300, 3)
    assert np.abs(pixels[2, 2].astype(int) - (0x81, 0xD4, 0xFA)).max() < 8


def test_image_url_to_a_private_address_is_refused(client, caller) -> None:
    r = client.post(PATH, {"image_url": "http://10.0.0.1/a.jpg"}, HTTP_X_API_KEY=caller.secret)
    assert r.status_code == 400
    (error,) = r.json()["errors"]
    assert error["code"] == "failed_image_download" and "not allowed" in error["detail"]
    assert balance(caller.workspace) == 10


def solid_png(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)):
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return SimpleUploadedFile("bg.png", out.getvalue())


def post(client, secret, data=None, **fields):
    if data is not None:
        fields["image_file"] = SimpleUploadedFile("f.jpg", data)
    return client.post(PATH, fields, HTTP_X_API_KEY=secret)


def test_formats_channels_crop_and_shadow(client, caller) -> None:
    src = image_bytes(300, 200, "JPEG")
    r = post(client, caller.secret, src, size="full", format="zip")
    assert r.status_code == 200 and r["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        assert open_image(archive.read("alpha.png")).mode == "L"
        assert open_image(archive.read("color.jpg")).size == (300, 200)

    r = post(client, caller.secret, src, size="full", channels="alpha")
    mask = open_image(r.content)
    assert r["Content-Type"] == "image/png" and mask.mode == "L"

    r = post(client, caller.secret, src, size="full", crop="true", crop_margin="10px")
    cropped = open_image(r.content)
    assert cropped.width < 300 and int(r["X-Foreground-Left"]) == 10
    assert int(r["X-Foreground-Top"]) == 10

    r = post(client, caller.secret, src, size="full", add_shadow="true", type="product")
    assert r.status_code == 200 and r["X-Type"] == "product"
    assert open_image(r.content).mode == "RGBA"
    r = post(client, caller.secret, src, size="full", format="webp")
    assert open_image(r.content).format == "WEBP"
    # Repeating an identical request is served from the stored result: no second charge.
    r = post(client, caller.secret, src, size="full", format="webp")
    assert r["X-Credits-Charged"] == "0"
    assert balance(caller.workspace) == 5


def errors_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"errors"}
    (error,) = body["errors"]
    assert error["code"] == code and error["title"]
    return error


def test_errors(client, caller) -> None:
    src = image_bytes(80, 60)
    errors_of(post(client, caller.secret), 400, "missing_source")
    errors_of(
        post(client, caller.secret, src, image_url="http://example.com/a.jpg"),
        400,
        "multiple_sources",
    )
    errors_of(post(client, caller.secret, src, size="giant"), 400, "invalid_size")
    # roi is honoured (a box hint: tests/api/test_refine.py); a malformed one is a 400.
    errors_of(post(client, caller.secret, src, roi="10% 10% 90%"), 400, "invalid_roi")
    errors_of(
        post(client, caller.secret, src, bg_image_url="http://10.0.0.1/y.jpg"),
        400,
        "failed_bg_download",
    )
    errors_of(post(client, caller.secret, src, crop_margin="90%"), 400, "invalid_crop_margin")
    errors_of(post(client, caller.secret, src, scale="5%"), 400, "invalid_scale")
    errors_of(post(client, caller.secret, src, position="left"), 400, "invalid_position")
    errors_of(post(client, caller.secret, src, bg_color="notacolour"), 400, "invalid_bg_color")
    errors_of(post(client, caller.secret, src, shadow_opacity="150"), 400, "invalid_parameter")
    errors_of(
        post(client, caller.secret, src, bg_color="fff", bg_image_file=solid_png((0, 0, 255))),
        400,
        "multiple_bg_sources",
    )
    errors_of(post(client, caller.secret, b"nope"), 400, "failed_to_read_image")
    errors_of(post(client, caller.secret, image_bytes(20, 20, "PNG")), 400, "resolution_too_low")
    errors_of(post(client, "", src), 403, "auth_failed")
    errors_of(post(client, "ck_bad_key", src), 403, "auth_failed")
    broke = make_caller(credits=0)
    errors_of(post(client, broke.secret, src, size="full"), 402, "insufficient_credits")
    capped = make_caller(credits=5, monthly_cap=0)
    errors_of(post(client, capped.secret, src, size="full"), 402, "insufficient_credits")
    # A preview is free (docs/api.md): it needs no credit at all.
    assert post(client, broke.secret, src).status_code == 200
    assert balance(caller.workspace) == 10
    r = client.get("/v1.0/improve", HTTP_X_API_KEY=caller.secret)
    errors_of(r, 404, "not_found")


def test_rate_limit(client, caller, settings) -> None:
    settings.CUTOUT_API_RATE_LIMIT = 1
    post(client, caller.secret)
    r = post(client, caller.secret)
    errors_of(r, 429, "rate_limit_exceeded")
    assert r["X-RateLimit-Remaining"] == "0" and int(r["Retry-After"]) >= 1


def test_precise_errors_for_other_formats(client, caller) -> None:
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    error = errors_of(post(client, caller.secret, heic), 400, "invalid_file_type")
    assert "HEIC" in error["detail"]
    truncated = image_bytes(200, 150, "PNG")[:400]
    error = errors_of(post(client, caller.secret, truncated), 400, "failed_to_read_image")
    assert "truncated" in error["detail"]


def test_account_balance_in_remove_bg_shape(host, live_caller) -> None:
    """Client libraries read the balance from GET /v1.0/account (data.attributes.credits)."""
    r = requests.get(f"{host}/v1.0/account", headers={"X-Api-Key": live_caller.secret}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert r.json() == {
        "data": {
            "attributes": {
                "credits": {"total": 10, "subscription": 0, "payg": 10, "enterprise": 0},
                "api": {"free_calls": 0, "sizes": "all"},
            }
        }
    }
    denied = requests.get(f"{host}/v1.0/account", headers={"X-Api-Key": "nope"}, timeout=30)
    assert denied.status_code == 403 and denied.json()["errors"][0]["code"] == "auth_failed"
    wrong = requests.post(
        f"{host}/v1.0/account", headers={"X-Api-Key": live_caller.secret}, timeout=30
    )
    assert wrong.status_code == 405 and "errors" in wrong.json()


@pytest.mark.parametrize(
    ("accept", "json_body"),
    [
        ("application/json, text/plain, */*", False),  # axios's default: the Node sample
        ("*/*", False),
        ("", False),
        ("application/json", True),
        ("image/*;q=0.5, application/json", True),
        ("application/json;q=0.9, image/png", False),
        ("application/json, image/*", False),
    ],
)
def test_json_only_when_it_is_preferred_to_images(client, caller, accept, json_body) -> None:
    extra = {"HTTP_ACCEPT": accept} if accept else {}
    r = client.post(
        PATH,
        {"image_file": SimpleUploadedFile("f.jpg", image_bytes(160, 120)), "size": "preview"},
        HTTP_X_API_KEY=caller.secret,
        **extra,
    )
    assert r.status_code == 200
    if json_body:
        assert r["Content-Type"] == "application/json" and "result_b64" in r.json()["data"]
    else:
        assert r["Content-Type"] == "image/png" and open_image(r.content).mode == "RGBA"


def test_bg_image_file_goes_under_the_subject(client, caller) -> None:
    src = image_bytes(300, 200, "JPEG")
    r = post(client, caller.secret, src, size="full", bg_image_file=solid_png((0, 0, 255)))
    assert r.status_code == 200 and r["Content-Type"] == "image/jpeg"  # auto: opaque -> jpg
    out = np.asarray(open_image(r.content).convert("RGB")).astype(int)
    assert out.shape == (200, 300, 3)
    assert np.abs(out[3, 3] - [0, 0, 255]).max() < 20  # a corner shows the background picture
    assert r["X-Credits-Charged"] == "1" and balance(caller.workspace) == 9


def test_bg_image_url_is_fetched_through_the_guard(host, live_caller, image_server) -> None:
    r = requests.post(
        f"{host}{PATH}",
        files={"image_file": ("f.png", image_bytes(300, 200, "PNG"))},
        data={"size": "full", "bg_image_url": image_server, "format": "png"},
        headers={"X-Api-Key": live_caller.secret},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    image = open_image(r.content)
    assert image.size == (300, 200) and image.mode == "RGB"  # opaque: the picture covers all


def test_unknown_foreground_is_refused_and_free(client, caller) -> None:
    blank = solid_png((120, 130, 140), (300, 200))
    error = errors_of(
        client.post(PATH, {"image_file": blank, "size": "full"}, HTTP_X_API_KEY=caller.secret),
        400,
        "unknown_foreground",
    )
    assert error["title"].startswith("Could not identify foreground")
    assert balance(caller.workspace) == 10


def test_scale_position_shadow_semitransparency_and_type_level(client, caller) -> None:
    src = image_bytes(400, 300, "JPEG")
    r = post(client, caller.secret, src, size="full", scale="50%", position="0% 100%")
    assert r.status_code == 200, r.content[:200]
    width, height = int(r["X-Foreground-Width"]), int(r["X-Foreground-Height"])
    assert max(width / 400, height / 300) == pytest.approx(0.5, abs=0.03)
    assert int(r["X-Foreground-Left"]) <= 2  # against the left edge
    assert int(r["X-Foreground-Top"]) + height >= 298  # on the bottom

    plain = open_image(post(client, caller.secret, src, size="full").content)
    drop = post(client, caller.secret, src, size="full", shadow_type="drop", shadow_opacity="90")
    shadowed = open_image(drop.content)
    outside = np.asarray(plain.getchannel("A")) == 0
    assert np.asarray(shadowed.getchannel("A"))[outside].max() > 40  # a shadow where none was
    none = post(client, caller.secret, src, size="full", shadow_type="none", format="png")
    assert np.array_equal(np.asarray(open_image(none.content)), np.asarray(plain))

    hard = post(client, caller.secret, src, size="full", semitransparency="false")
    alpha = np.asarray(open_image(hard.content).getchannel("A"))
    soft = np.asarray(plain.getchannel("A"))
    partial = lambda a: np.count_nonzero((a > 10) & (a < 245))  # noqa: E731
    assert partial(alpha) < partial(soft)

    r = post(client, caller.secret, src, type_level="none")
    assert r.status_code == 200 and "X-Type" not in r


def test_previews_are_free(client, caller) -> None:
    r = post(client, caller.secret, image_bytes(1000, 800, "JPEG"))  # size defaults to preview
    assert r.status_code == 200 and r["X-Credits-Charged"] == "0"
    assert balance(caller.workspace) == 10
