"""Network users can get the source of the running server (AGPL-3.0 section 13)."""

from __future__ import annotations

import io
import tarfile

import pytest
from django.test import Client


@pytest.mark.django_db
def test_source_is_an_archive_of_this_checkout(client: Client) -> None:
    response = client.get("/source")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
        names = set(archive.getnames())
    assert {"cutout/LICENSE", "cutout/manage.py", "cutout/cutout/settings.py"} <= names


@pytest.mark.django_db
def test_source_redirects_to_the_published_repository(
    client: Client, settings: pytest.FixtureRequest
) -> None:
    settings.CUTOUT_SOURCE_URL = "https://git.example.com/cutout"  # type: ignore[attr-defined]
    response = client.get("/source")
    assert response.status_code == 302
    assert response["Location"] == "https://git.example.com/cutout"


@pytest.mark.django_db
def test_every_page_links_the_source(client: Client) -> None:
    assert b'href="/source"' in client.get("/").content
