"""API4AI dialect (seed 002): the seed's curl examples against a live server."""

from __future__ import annotations

import base64
import hashlib
import json

import numpy as np
import requests
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import balance, make_caller

from .conftest import curl
from .images import image_bytes, open_image


def test_version_curl(host) -> None:
    status, headers, body = curl("-X", "GET", f"{host}/v1/version")
    assert status == 200 and body == b"v1.5.0"
    assert headers["content-type"].startswith("text/plain")


def test_modes_curl(host) -> None:
    status, headers, body = curl("-X", "GET", f"{host}/v1/modes")
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == ["fg-image", "fg-image-shadow", "fg-mask"]


def results_curl(host: str, secret: str, img, mode: str | None = None) -> tuple[int, dict, dict]:
    url = f"{host}/v1/results" + (f"?mode={mode}" if mode else "")
    # The seed's example plus the key header (RapidAPI's); the host is the only other change.
    status, headers, body = curl(
        "-X", "POST", url, "-H", f"X-RapidAPI-Key: {secret}", "-F", f"image=@{img}"
    )
    return status, headers, json.loads(body)


def test_seed_curl_verbatim_with_an_operator_key(host, live_caller, tmp_path, settings) -> None:
    """The seed's examples send no key; an operator may name one to serve them unchanged."""
    img = tmp_path / "img.jpg"
    img.write_bytes(image_bytes(200, 150, "JPEG"))
    # Off by default: no key, no service.
    status, _, body = curl("-X", "POST", f"{host}/v1/results", "-F", f"image=@{img}")
    assert status == 401 and "detail" in json.loads(body)
    settings.CUTOUT_API4AI_ANONYMOUS_KEY = live_caller.api_key.prefix
    # Exactly the seed's two POST examples, with only the host changed.
    status, _, body = curl("-X", "POST", f"{host}/v1/results", "-F", f"image=@{img}")
    assert status == 200, body
    assert json.loads(body)["results"][0]["entities"][0]["name"] == "general-fg-image"
    status, _, body = curl("-X", "POST", f"{host}/v1/results?mode=fg-mask", "-F", f"image=@{img}")
    assert (
        status == 200 and json.loads(body)["results"][0]["entities"][0]["name"] == "general-fg-mask"
    )
    assert balance(live_caller.workspace) == 8  # charged to the operator's key
    from accounts.services import api_key_revoke

    api_key_revoke(api_key=live_caller.api_key, by=live_caller.user)
    status, _, _ = curl("-X", "POST", f"{host}/v1/results", "-F", f"image=@{img}")
    assert status == 401  # revoking the key ends anonymous service


def test_results_curl_default_mode(host, live_caller, tmp_path) -> None:
    img = tmp_path / "img.jpg"
    img.write_bytes(image_bytes(200, 150, "JPEG"))
    status, headers, body = results_curl(host, live_caller.secret, img)
    assert status == 200 and headers["x-credits-charged"] == "1"
    (result,) = body["results"]
    assert result["status"] == {"code": "ok", "message": "Success"}
    assert result["name"] == "img.jpg"
    assert result["md5"] == hashlib.md5(img.read_bytes()).hexdigest()  # noqa: S324 - as documented
    (entity,) = result["entities"]
    assert entity["kind"] == "image" and entity["name"] == "general-fg-image"
    assert entity["format"] == "PNG"
    png = open_image(base64.b64decode(entity["image"]))
    assert png.format == "PNG" and png.mode == "RGBA" and png.size == (200, 150)
    alpha = np.asarray(png.getchannel("A"))
    assert alpha[75, 100] > 200 and alpha[2, 2] < 30
    assert balance(live_caller.workspace) == 9


def test_results_curl_mask_and_shadow(host, live_caller, tmp_path) -> None:
    img = tmp_path / "img.jpg"
    img.write_bytes(image_bytes(200, 150, "JPEG"))
    _, _, body = results_curl(host, live_caller.secret, img, "fg-mask")
    (entity,) = body["results"][0]["entities"]
    assert entity["name"] == "general-fg-mask"
    mask = open_image(base64.b64decode(entity["image"]))
    assert mask.mode == "L" and np.asarray(mask)[75, 100] > 200
    _, _, body = results_curl(host, live_caller.secret, img, "fg-image-shadow")
    (entity,) = body["results"][0]["entities"]
    assert entity["name"] == "general-fg-image-shadow"
    shadow = np.asarray(open_image(base64.b64decode(entity["image"])))
    assert shadow.shape == (150, 200, 4)
    _, _, body = results_curl(host, live_caller.secret, img)
    plain = np.asarray(open_image(base64.b64decode(body["results"][0]["entities"][0]["image"])))
    # The shadow adds dark, partly opaque pixels where the plain cutout is transparent.
    added = (shadow[..., 3] > 10) & (plain[..., 3] == 0)
    assert added.sum() > 100
    assert shadow[added][:, :3].mean() < 60


def test_corrupted_image_is_a_failure_inside_a_200(host, live_caller, tmp_path) -> None:
    bad = tmp_path / "file.jpg"
    bad.write_bytes(b"")  # the seed's example md5 is the md5 of nothing
    status, headers, body = results_curl(host, live_caller.secret, bad)
    assert status == 200
    assert body == {
        "results": [
            {
                "status": {"code": "failure", "message": "Can not load image."},
                "name": "file.jpg",
                "md5": "d41d8cd98f00b204e9800998ecf8427e",
                "entities": [],
            }
        ]
    }
    assert "x-credits-charged" not in headers
    assert balance(live_caller.workspace) == 10


def test_missing_image_or_url_is_422(host, live_caller) -> None:
    r = requests.post(
        f"{host}/v1/results",
        headers={"X-RapidAPI-Key": live_caller.secret},
        files={"other": ("x.txt", b"hello")},
        timeout=30,
    )
    assert r.status_code == 422 and r.json() == {"detail": "Missing image or url field."}


def test_request_over_32mb_is_413(host, live_caller) -> None:
    r = requests.post(
        f"{host}/v1/results",
        headers={"X-RapidAPI-Key": live_caller.secret},
        files={"image": ("big.jpg", b"\xff" * (33 * 1024 * 1024), "image/jpeg")},
        timeout=60,
    )
    assert r.status_code == 413
    assert r.text.startswith("Error: Request Entity Too Large")


def post(client, secret, data, name="img.jpg", mode=None, **extra):
    url = "/v1/results" + (f"?mode={mode}" if mode else "")
    payload = dict(extra)
    if data is not None:
        payload["image"] = SimpleUploadedFile(name, data)
    return client.post(url, payload, HTTP_X_RAPIDAPI_KEY=secret)


def failure_message(response) -> str:
    assert response.status_code == 200, response.content
    (result,) = response.json()["results"]
    assert result["status"]["code"] == "failure" and result["entities"] == []
    return result["status"]["message"]


def test_image_limits_are_failures(client, caller) -> None:
    assert "JPEG and PNG" in failure_message(
        post(client, caller.secret, image_bytes(80, 60, "WEBP"))
    )
    assert "JPEG and PNG" in failure_message(
        post(client, caller.secret, image_bytes(80, 60, "GIF"))
    )
    assert "4096" in failure_message(post(client, caller.secret, image_bytes(4097, 40, "PNG")))
    big = image_bytes(80, 60, "JPEG") + b"\x00" * (16 * 1024 * 1024)
    assert "16Mb" in failure_message(post(client, caller.secret, big))
    assert balance(caller.workspace) == 10


def test_url_input_goes_through_the_ssrf_guard(client, caller) -> None:
    r = client.post(
        "/v1/results",
        {"url": "http://169.254.169.254/latest/meta-data/"},
        HTTP_X_RAPIDAPI_KEY=caller.secret,
    )
    message = failure_message(r)
    assert "not allowed" in message
    assert r.json()["results"][0]["name"] == "http://169.254.169.254/latest/meta-data/"
    assert balance(caller.workspace) == 10


def test_bad_mode_auth_and_credits(client, db) -> None:
    caller = make_caller(credits=0)
    r = post(client, caller.secret, image_bytes(80, 60), mode="sepia")
    assert r.status_code == 422 and "fg-image" in r.json()["detail"]
    r = post(client, "ck_wrong", image_bytes(80, 60))
    assert r.status_code == 401 and r.json()["detail"]
    r = post(client, caller.secret, image_bytes(80, 60))
    assert r.status_code == 402 and "credits" in r.json()["detail"]
    r = client.get("/v1/does-not-exist")
    assert r.status_code == 404 and "detail" in r.json()


def test_key_less_calls_have_their_own_limits(client, caller, settings) -> None:
    """The anonymous key serves key-less calls under its own rate limit and monthly cap, so they
    cannot use up the key: calls with the key itself keep working."""
    settings.CUTOUT_API4AI_ANONYMOUS_KEY = caller.api_key.prefix
    settings.CUTOUT_API4AI_ANONYMOUS_RATE_LIMIT = 1
    settings.CUTOUT_API4AI_ANONYMOUS_MONTHLY_CAP = 1000

    def call(**headers):
        upload = SimpleUploadedFile("a.jpg", image_bytes(120, 90))
        return client.post("/v1/results", {"image": upload}, **headers)

    assert call().status_code == 200
    refused = call()
    assert refused.status_code == 429 and refused["X-RateLimit-Limit"] == "1"
    assert call(HTTP_X_RAPIDAPI_KEY=caller.secret).status_code == 200  # the key's own limit
    settings.CUTOUT_API4AI_ANONYMOUS_RATE_LIMIT = 100
    settings.CUTOUT_API4AI_ANONYMOUS_MONTHLY_CAP = 3  # the two key-less calls so far, and one
    assert call().status_code == 200
    capped = call()
    assert capped.status_code == 402 and "cap" in capped.json()["detail"]
    assert call(HTTP_X_RAPIDAPI_KEY=caller.secret).status_code == 200


def test_api4ai_own_host_path(client, caller) -> None:
    """API4AI's own examples call https://api4ai.cloud/img-bg-removal/v1/results."""
    upload = SimpleUploadedFile("a.jpg", image_bytes(120, 90))
    r = client.post(
        "/img-bg-removal/v1/results?mode=fg-mask",
        {"image": upload},
        HTTP_X_RAPIDAPI_KEY=caller.secret,
    )
    assert r.status_code == 200
    assert r.json()["results"][0]["entities"][0]["name"] == "general-fg-mask"
    assert client.get("/img-bg-removal/v1/version").status_code == 200
    missing = client.get("/img-bg-removal/v1/nothing")
    assert missing.status_code == 404 and "detail" in missing.json()
