"""Network users can get the source of the running server (AGPL-3.0 section 13)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

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


@pytest.mark.django_db
def test_an_installed_copy_serves_the_archive_it_was_built_with(
    client: Client, settings: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The container image has no git checkout: it serves the archive made at build time."""
    built = tmp_path / "source.tar.gz"
    with tarfile.open(built, "w:gz") as archive:
        data = b"AGPL-3.0-or-later\n"
        member = tarfile.TarInfo("cutout/LICENSE")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    settings.CUTOUT_SOURCE_ARCHIVE = str(built)  # type: ignore[attr-defined]
    response = client.get("/source")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/gzip"
    assert 'filename="cutout-source.tar.gz"' in response["Content-Disposition"]
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        assert archive.extractfile("cutout/LICENSE").read() == data  # type: ignore[union-attr]
