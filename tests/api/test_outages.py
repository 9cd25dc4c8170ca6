"""A database or storage outage is a 503 with Retry-After in every dialect's own format, and
charges nothing (issue 17, items 3 and 5)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.api.images import image_bytes
from tests.factories import balance
from tests.outages import database_down, storage_unwritable

pytestmark = pytest.mark.django_db

Check = Callable[[dict[str, Any]], bool]

# dialect -> (path, key header, image field, how its 503 body looks)
DIALECTS: dict[str, tuple[str, str, str, Check]] = {
    "native": (
        "/api/v1/cutouts",
        "HTTP_X_API_KEY",
        "image",
        lambda b: b["error"]["code"] == "unavailable" and bool(b["error"]["request_id"]),
    ),
    "removebg": (
        "/v1.0/removebg",
        "HTTP_X_API_KEY",
        "image_file",
        lambda b: b["errors"][0]["code"] == "service_unavailable",
    ),
    "ailab": (
        "/api/cutout/general/universal-background-removal",
        "HTTP_AILABAPI_API_KEY",
        "image",
        lambda b: b["error_code"] == 503 and b["error_detail"]["status_code"] == 503,
    ),
    "api4ai": ("/v1/results", "HTTP_X_API_KEY", "image", lambda b: bool(b["detail"])),
    "seed004": (
        "/v1/remove-background",
        "HTTP_X_API_KEY",
        "image",
        lambda b: b["code"] == "service_unavailable" and bool(b["request_id"]),
    ),
}


def _post(client: Any, dialect: str, secret: str, seed: int) -> Any:
    path, header, field, _check = DIALECTS[dialect]
    upload = SimpleUploadedFile("photo.jpg", image_bytes(seed=seed), "image/jpeg")
    fields: dict[str, Any] = {field: upload}
    if dialect == "removebg":
        fields["size"] = "full"  # remove.bg's default is a preview, and previews are free
    return client.post(path, fields, **{header: secret})


def _assert_unavailable(response: Any, dialect: str) -> None:
    assert response.status_code == 503, response.content[:300]
    assert int(response["Retry-After"]) > 0
    body = json.loads(response.content)
    assert DIALECTS[dialect][3](body), body
    text = response.content.decode()
    assert "5432" not in text and "Traceback" not in text  # no internals leak


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_a_database_outage_is_a_503_in_the_dialects_format(
    client, caller, monkeypatch, dialect
) -> None:
    with database_down(monkeypatch):
        response = _post(client, dialect, caller.secret, seed=11)
    _assert_unavailable(response, dialect)
    assert balance(caller.workspace) == 10


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_unwritable_storage_is_a_503_and_charges_nothing(
    client, caller, monkeypatch, dialect
) -> None:
    with storage_unwritable(monkeypatch):
        response = _post(client, dialect, caller.secret, seed=12)
    _assert_unavailable(response, dialect)
    assert balance(caller.workspace) == 10
    # Storage is back: the same request goes through and is charged once.
    assert _post(client, dialect, caller.secret, seed=12).status_code in (200, 201)
    assert balance(caller.workspace) == 9


def test_the_read_endpoints_answer_503_too(client, caller, monkeypatch) -> None:
    with database_down(monkeypatch):
        response = client.get("/api/v1/account", HTTP_X_API_KEY=caller.secret)
    _assert_unavailable(response, "native")
