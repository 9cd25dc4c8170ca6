"""AILabTools dialect (seeds 000, 001, 003): the seeds' own examples against a live server."""

from __future__ import annotations

import time

import numpy as np
import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile

from cutout.files import storage
from tests.factories import balance, make_caller

from .conftest import curl
from .images import image_bytes, open_image, padded, png16_bytes

UNIVERSAL = "/api/cutout/general/universal-background-removal"
FOOD = "/api/cutout/general/food-background-removal"
COMMODITY = "/api/cutout/general/commodity-background-removal"
ENVELOPE_KEYS = {
    "request_id",
    "log_id",
    "error_code",
    "error_code_str",
    "error_msg",
    "error_detail",
}


def assert_success_envelope(body: dict, request_id: str) -> str:
    assert set(body) == ENVELOPE_KEYS | {"data"}
    assert body["error_code"] == 0 and body["error_code_str"] == "" and body["error_msg"] == ""
    assert body["error_detail"] == {
        "status_code": 200,
        "code": "",
        "code_message": "",
        "message": "",
    }
    assert body["request_id"] == request_id and body["log_id"]
    return body["data"]["image_url"]


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["error_code"] == status and body["error_detail"]["status_code"] == status
    assert body["error_detail"]["code"] == code, body
    assert body["error_msg"] and body["error_detail"]["message"] == body["error_msg"]
    assert body["request_id"] == response["X-Request-ID"]
    return body


# ---------------------------------------------------------------------------------------------
# Seed 003's curl and Python examples, host changed, against a live server


def test_seed003_curl_transparent_png(host, live_caller, tmp_path) -> None:
    example = tmp_path / "example-file"
    example.write_bytes(image_bytes(200, 150, "JPEG"))
    status, headers, body = curl(
        "--request", "POST",
        "--url", f"{host}{UNIVERSAL}",
        "--header", "Content-Type: multipart/form-data",
        "--header", f"ailabapi-api-key: {live_caller.secret}",
        "--form", f"image=@{example}",
    )  # fmt: skip
    assert status == 200 and headers["content-type"] == "application/json"
    url = assert_success_envelope(__import__("json").loads(body), headers["x-request-id"])
    assert url.startswith(f"{host}/files/")
    assert headers["x-credits-charged"] == "1" and headers["x-credits-remaining"] == "9"
    image = open_image(requests.get(url, timeout=30).content)
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (200, 150)
    alpha = np.asarray(image.getchannel("A"))
    assert alpha[75, 100] > 200 and alpha[2, 2] < 30  # subject kept, background gone
    assert balance(live_caller.workspace) == 9


def test_seed003_curl_white_background(host, live_caller, tmp_path) -> None:
    example = tmp_path / "example-file"
    example.write_bytes(image_bytes(200, 150, "PNG"))
    status, headers, body = curl(
        "--request", "POST",
        "--url", f"{host}{UNIVERSAL}",
        "--header", "Content-Type: multipart/form-data",
        "--header", f"ailabapi-api-key: {live_caller.secret}",
        "--form", f"image=@{example}",
        "--form", "return_form=whiteBK",
    )  # fmt: skip
    assert status == 200
    url = assert_success_envelope(__import__("json").loads(body), headers["x-request-id"])
    image = open_image(requests.get(url, timeout=30).content)
    assert image.mode == "RGB" and image.size == (200, 150)
    pixels = np.asarray(image)
    assert pixels[[0, 0, -1, -1], [0, -1, 0, -1]].min() > 245  # white corners


def test_seed003_python_requests_mask(host, live_caller, tmp_path) -> None:
    # The seed's Python example, verbatim apart from the URL and key.
    api_key = live_caller.secret
    url = f"{host}{UNIVERSAL}"
    (tmp_path / "input.jpg").write_bytes(image_bytes(200, 150, "JPEG"))
    with open(tmp_path / "input.jpg", "rb") as f:
        files = {"image": f}
        data = {"return_form": "mask"}  # optional: mask | whiteBK | crop
        headers = {"ailabapi-api-key": api_key}

        r = requests.post(url, headers=headers, files=files, data=data, timeout=60)
        r.raise_for_status()
        out = r.json()
    image_url = assert_success_envelope(out, r.headers["X-Request-ID"])
    mask = open_image(requests.get(image_url, timeout=30).content)
    assert mask.mode == "L" and mask.size == (200, 150)  # a single-channel mask
    values = np.asarray(mask)
    assert values[75, 100] > 200 and values[2, 2] < 30


def test_seed003_crop_and_bearer_auth(host, live_caller) -> None:
    r = requests.post(
        f"{host}{UNIVERSAL}",
        headers={"Authorization": f"Bearer {live_caller.secret}"},
        files={"image": ("p.png", image_bytes(200, 150, "PNG"), "image/png")},
        data={"return_form": "crop"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    image = open_image(requests.get(r.json()["data"]["image_url"], timeout=30).content)
    assert image.mode == "RGBA" and image.width < 200 and image.height < 150


@pytest.mark.parametrize(("path", "form"), [(FOOD, "whiteBK"), (COMMODITY, "crop")])
def test_food_and_commodity_answer_the_documented_example_shape(
    host, live_caller, path, form
) -> None:
    r = requests.post(
        f"{host}{path}",
        headers={"ailabapi-api-key": live_caller.secret},
        files={"image": ("dish.jpg", image_bytes(180, 140, "JPEG"), "image/jpeg")},
        data={"return_form": form},
        timeout=60,
    )
    assert r.status_code == 200
    url = assert_success_envelope(r.json(), r.headers["X-Request-ID"])
    # The URL is signed and lasts 24 hours.
    token = url.rsplit("/files/", 1)[1]
    grant = storage.file_token_read(token)
    assert abs(grant.expires_at.timestamp() - (time.time() + 24 * 3600)) < 120
    assert requests.get(url, timeout=30).status_code == 200
    assert requests.get(url[:-3] + "xyz", timeout=30).status_code == 404  # tampered


def test_live_errors_are_json_envelopes(host, live_caller) -> None:
    r = requests.post(f"{host}{UNIVERSAL}", headers={"ailabapi-api-key": "nope"}, timeout=30)
    assert r.status_code == 401 and r.json()["error_code"] == 401
    assert r.json()["error_code_str"] == "ERROR_APPLICATIONS_NOT_EXISTS"
    r = requests.get(
        f"{host}{UNIVERSAL}", headers={"ailabapi-api-key": live_caller.secret}, timeout=30
    )
    assert r.status_code == 405 and r.json()["error_detail"]["status_code"] == 405
    r = requests.post(f"{host}/api/cutout/general/nothing-here", timeout=30)
    assert r.status_code == 404 and r.json()["error_detail"]["code"] == "ERROR_AI_NOT_EXISTS"


# ---------------------------------------------------------------------------------------------
# Input limits per seed (test client: no model runs for refusals)


def post(client, path, secret, data: bytes | None, name="x.jpg", **fields):
    payload = dict(fields)
    if data is not None:
        payload["image"] = SimpleUploadedFile(name, data)
    return client.post(path, payload, HTTP_AILABAPI_API_KEY=secret)


MB = 1024 * 1024


@pytest.mark.parametrize(
    ("path", "limit"), [(UNIVERSAL, 3 * MB), (FOOD, 4 * MB), (COMMODITY, 3 * MB)]
)
def test_file_size_limits(client, caller, path, limit) -> None:
    big = padded(image_bytes(100, 100, "JPEG"), limit + 1)
    body = assert_error(post(client, path, caller.secret, big), 400, "ERROR_IMAGE_SIZE")
    assert str(limit) in body["error_msg"]
    assert balance(caller.workspace) == 10


def test_body_over_the_read_limit_gets_the_same_answer_as_a_large_file(client, caller) -> None:
    big = padded(image_bytes(100, 100, "JPEG"), 6 * MB)  # past the 5 MiB read guard
    assert_error(post(client, FOOD, caller.secret, big), 400, "ERROR_IMAGE_SIZE")
    assert balance(caller.workspace) == 10


@pytest.mark.parametrize(
    ("path", "size"),
    [
        (UNIVERSAL, (32, 100)),
        (UNIVERSAL, (2000, 40)),
        (UNIVERSAL, (40, 2000)),
        (FOOD, (40, 80)),
        (FOOD, (1999, 50)),
        (COMMODITY, (2000, 50)),
    ],
)
def test_resolution_limits(client, caller, path, size) -> None:
    data = image_bytes(size[0], size[1], "PNG")
    assert_error(post(client, path, caller.secret, data, "x.png"), 400, "ERROR_IMAGE_RESOLUTION")
    assert balance(caller.workspace) == 10


@pytest.mark.parametrize(
    ("path", "size"), [(UNIVERSAL, (33, 1999)), (FOOD, (41, 1998)), (COMMODITY, (1999, 40))]
)
def test_resolution_just_inside_the_limits_is_accepted(client, caller, path, size) -> None:
    r = post(client, path, caller.secret, image_bytes(size[0], size[1], "PNG"), "x.png")
    assert r.status_code == 200, r.content
    assert r.json()["error_code"] == 0


@pytest.mark.parametrize(
    ("path", "fmt", "ok"),
    [
        (UNIVERSAL, "GIF", False),
        (FOOD, "WEBP", False),
        (COMMODITY, "WEBP", False),
        (FOOD, "TIFF", False),
        (UNIVERSAL, "WEBP", True),
        (COMMODITY, "BMP", True),
    ],
)
def test_formats(client, caller, path, fmt, ok) -> None:
    r = post(client, path, caller.secret, image_bytes(120, 90, fmt), f"x.{fmt.lower()}")
    if ok:
        assert r.status_code == 200, r.content
    else:
        assert_error(r, 400, "ERROR_IMAGE_FORMAT")


@pytest.mark.parametrize(("path", "ok"), [(UNIVERSAL, False), (COMMODITY, False), (FOOD, True)])
def test_16_bit_png(client, caller, path, ok) -> None:
    r = post(client, path, caller.secret, png16_bytes(), "deep.png")
    if ok:
        assert r.status_code == 200, r.content
    else:
        body = assert_error(r, 400, "ERROR_IMAGE_FORMAT")
        assert "16-bit" in body["error_msg"]


def test_parameters(client, caller) -> None:
    assert_error(post(client, UNIVERSAL, caller.secret, None), 400, "MISSING_PARAMETERS")
    jpg = image_bytes(120, 90, "JPEG")
    body = assert_error(
        post(client, FOOD, caller.secret, jpg, return_form="crop"), 400, "ERROR_INVALID_PARAMETER"
    )
    assert "mask, whiteBK" in body["error_msg"]
    assert_error(
        post(client, UNIVERSAL, caller.secret, jpg, return_form="sepia"),
        400,
        "ERROR_INVALID_PARAMETER",
    )
    assert_error(post(client, UNIVERSAL, caller.secret, b"not an image"), 400, "ERROR_IMAGE_DECODE")
    assert balance(caller.workspace) == 10


def test_auth_and_credits(client, db) -> None:
    jpg = image_bytes(120, 90, "JPEG")
    r = client.post(UNIVERSAL, {"image": SimpleUploadedFile("x.jpg", jpg)})
    assert_error(r, 401, "ERROR_API_KEY_INVALID")
    broke = make_caller(credits=0)
    body = assert_error(post(client, UNIVERSAL, broke.secret, jpg), 429, "ERROR_NOT_ENOUGH_CREDITS")
    assert body["error_code_str"] == "ERROR_NOT_ENOUGH_CREDITS"
    from cutout.models import Cutout

    assert not Cutout.objects.filter(workspace=broke.workspace).exists()


def test_query_credits_for_the_sdk(client, caller) -> None:
    """The official SDK's ``commonQueryCredits`` calls GET /api/common/query-credits."""
    r = client.get("/api/common/query-credits", HTTP_AILABAPI_API_KEY=caller.secret)
    assert r.status_code == 200
    body = r.json()
    assert body["error_code"] == 0 and isinstance(body["data"], list)
    assert body["data"][0]["balance"] == 10
    assert_error(client.get("/api/common/query-credits"), 401, "ERROR_API_KEY_INVALID")
    assert client.get("/api/common/nothing-here").json()["error_detail"]["status_code"] == 404
