"""What the web app answers when a dependency is down or a request cannot be read (issue 17,
items 3 and 13)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from tests.factories import balance, signed_up
from tests.outages import database_down, storage_unwritable
from tests.web.conftest import photo

pytestmark = pytest.mark.django_db
JSON: dict[str, Any] = {"HTTP_ACCEPT": "application/json"}


def signed_in() -> tuple[Client, Any]:
    person = signed_up()
    client = Client(raise_request_exception=False)
    client.force_login(person.user)
    return client, person


def test_a_database_outage_shows_a_friendly_503_page(monkeypatch) -> None:
    client, _person = signed_in()
    for path in (reverse("home"), reverse("library"), "/account/"):
        with database_down(monkeypatch):
            response = client.get(path)
        assert response.status_code == 503, path
        assert int(response["Retry-After"]) > 0
        html = response.content.decode()
        assert "Back in a moment" in html and "Nothing was charged" in html
        assert "Traceback" not in html and "5432" not in html
    # The database is back: the same page works.
    assert client.get(reverse("home")).status_code == 200


def test_a_database_outage_answers_the_page_script_in_json(monkeypatch) -> None:
    client, _person = signed_in()
    with database_down(monkeypatch):
        response = client.get(reverse("library"), **JSON)
    assert response.status_code == 503 and int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "database_unavailable"


def test_an_upload_while_storage_is_unwritable_is_a_503_and_free(monkeypatch) -> None:
    client, person = signed_in()
    before = balance(person.workspace)
    data: dict[str, Any] = {"style": "transparent", "format": "png", "size": "full"}
    data["image"] = SimpleUploadedFile("plant.jpg", photo(), content_type="image/jpeg")
    with storage_unwritable(monkeypatch):
        response = client.post(reverse("upload"), data, **JSON)
    assert response.status_code == 503 and int(response["Retry-After"]) > 0
    error = response.json()["error"]
    assert error["charged"] is False and "try again" in error["message"].lower()
    assert balance(person.workspace) == before


def test_too_many_files_answer_json_to_the_page_script(settings) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 5
    client, person = signed_in()
    files = [SimpleUploadedFile(f"{i}.png", b"x", content_type="image/png") for i in range(6)]
    response = client.post(reverse("upload"), {"style": "transparent", "image": files}, **JSON)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "too_many_files" and error["charged"] is False
    # A form post without JavaScript still gets a page.
    page = client.post(reverse("upload"), {"style": "transparent", "image": files})
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")
    assert balance(person.workspace) == 25
