"""Hostile request bodies: deeply nested or oversized JSON, duplicate image fields. Each is a
clean 400 in the dialect's own format and costs nothing (issue 17, items 6 and 7)."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cutout.jsonbody import MAX_DEPTH, JsonBodyError, depth_of, json_body
from tests.api.images import image_bytes
from tests.factories import balance

pytestmark = pytest.mark.django_db

DEEP = b"[" * 1000 + b"]" * 1000  # json.loads alone raises RecursionError on this
DEEP_OBJECT = b'{"a":' * 50_000 + b"1" + b"}" * 50_000


def test_the_helper_refuses_depth_size_and_garbage() -> None:
    assert json_body(b'{"a": [1, {"b": 2}]}', max_bytes=100) == {"a": [1, {"b": 2}]}
    assert depth_of({"a": [1, {"b": 2}]}) == 3 and depth_of(5) == 0
    for raw, code in (
        (DEEP, "json_too_deep"),
        (DEEP_OBJECT, "json_too_deep"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "json_too_deep"),
        (b"{nope", "invalid_json"),
        (b'"\xff\xfe"', "invalid_json"),
        (b"[" + b"1," * 100 + b"1]", "json_too_large"),
    ):
        with pytest.raises(JsonBodyError) as caught:
            json_body(raw, max_bytes=len(DEEP_OBJECT) if code != "json_too_large" else 100)
        assert caught.value.code == code, raw[:20]
    nested = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert depth_of(json_body(nested, max_bytes=1000)) == MAX_DEPTH


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_deep_json_is_a_400_in_the_removebg_format(client, caller, body) -> None:
    response = client.post(
        "/v1.0/removebg", body, content_type="application/json", HTTP_X_API_KEY=caller.secret
    )
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "invalid_parameter" and "deeper" in error["detail"]
    assert balance(caller.workspace) == 10


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_deep_json_is_a_400_in_the_native_format(client, caller, body) -> None:
    response = client.post(
        "/api/v1/cutouts", body, content_type="application/json", HTTP_X_API_KEY=caller.secret
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"
    assert balance(caller.workspace) == 10


def _upload(name: str = "a.jpg", seed: int = 1) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes(seed=seed), "image/jpeg")


# endpoint -> (path, key header, the image field, how its 400 says "more than one image")
ENDPOINTS = {
    "removebg": (
        "/v1.0/removebg",
        "HTTP_X_API_KEY",
        "image_file",
        lambda r: r.json()["errors"][0]["code"] == "multiple_sources",
    ),
    "ailab-universal": (
        "/api/cutout/general/universal-background-removal",
        "HTTP_AILABAPI_API_KEY",
        "image",
        lambda r: r.json()["error_detail"]["code"] == "ERROR_PARAMETERS",
    ),
    "ailab-food": (
        "/api/cutout/general/food-background-removal",
        "HTTP_AILABAPI_API_KEY",
        "image",
        lambda r: r.json()["error_detail"]["code"] == "ERROR_PARAMETERS",
    ),
    "ailab-commodity": (
        "/api/cutout/general/commodity-background-removal",
        "HTTP_AILABAPI_API_KEY",
        "image",
        lambda r: r.json()["error_detail"]["code"] == "ERROR_PARAMETERS",
    ),
    "api4ai": ("/v1/results", "HTTP_X_API_KEY", "image", lambda r: "once" in r.json()["detail"]),
    "seed004": (
        "/v1/remove-background",
        "HTTP_X_API_KEY",
        "image",
        lambda r: r.json()["code"] == "validation_error",
    ),
    "native": (
        "/api/v1/cutouts",
        "HTTP_X_API_KEY",
        "image",
        lambda r: r.json()["error"]["code"] == "multiple_images",
    ),
}


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_a_duplicate_image_field_is_refused_and_free(client, caller, endpoint) -> None:
    path, header, field, says_multiple = ENDPOINTS[endpoint]
    response = client.post(
        path, {field: [_upload("a.jpg", 1), _upload("b.jpg", 2)]}, **{header: caller.secret}
    )
    assert response.status_code in (400, 422), response.content[:200]
    assert says_multiple(response), response.content[:300]
    assert balance(caller.workspace) == 10


def test_seed004_refuses_image_and_image_file_together(client, caller) -> None:
    response = client.post(
        "/v1/remove-background",
        {"image": _upload("a.jpg", 1), "image_file": _upload("b.jpg", 2)},
        HTTP_X_API_KEY=caller.secret,
    )
    assert response.status_code == 400 and response.json()["code"] == "validation_error"
    assert balance(caller.workspace) == 10


def test_a_duplicate_url_field_is_refused(client, caller) -> None:
    response = client.post(
        "/v1.0/removebg",
        {"image_url": ["https://example.com/a.jpg", "https://example.com/b.jpg"]},
        HTTP_X_API_KEY=caller.secret,
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "multiple_sources"


def test_native_batches_still_take_several_images(client, caller, settings) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False
    response = client.post(
        "/api/v1/cutouts?async=true",
        {"image": [_upload("a.jpg", 1), _upload("b.jpg", 2)]},
        HTTP_X_API_KEY=caller.secret,
    )
    assert response.status_code == 202, response.content[:300]
    assert len(json.loads(response.content)["items"]) == 2
