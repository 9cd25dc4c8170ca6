"""Signed, expiring file URLs: Django-signed ``/files/<token>`` locally, presigned on S3."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client

from cutout.files import storage
from tests.factories import make_workspace
from tests.storages import make_bucket, s3_storage_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"cutout-bytes" * 10


def _save(workspace_id: Any, name: str = "result.png") -> str:
    return default_storage.save(
        f"ws/{workspace_id}/cutouts/{uuid.uuid4()}/{name}", ContentFile(PNG)
    )


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


@pytest.mark.django_db
def test_local_url_serves_the_file_until_it_expires(client: Client, settings: Any) -> None:
    settings.SITE_URL = "https://cutout.example"
    name = _save(1)
    url = storage.signed_url(name)
    assert url.startswith("https://cutout.example/files/")
    assert name not in url  # the key is inside the signed token, not readable or editable

    response = client.get(_path(url))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG  # type: ignore[attr-defined]
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "private" in response["Cache-Control"]
    assert "attachment" not in response.get("Content-Disposition", "")


@pytest.mark.django_db
def test_local_url_with_a_filename_downloads(client: Client) -> None:
    name = _save(1)
    url = storage.signed_url(name, filename='my "photo"/../x.png')
    response = client.get(_path(url))
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment") and "x.png" in disposition
    assert '"photo"' not in disposition and ".." not in disposition


@pytest.mark.django_db
def test_expired_tampered_and_missing(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    name = _save(1)
    url = storage.signed_url(name, expires=60)
    path = _path(url)

    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert client.get(tampered).status_code == 404

    later = time.time() + 61
    monkeypatch.setattr(storage.time, "time", lambda: later)
    response = client.get(path)
    assert response.status_code == 404
    assert b"expired" in response.content
    monkeypatch.undo()

    default_storage.delete(name)
    assert client.get(path).status_code == 404


@pytest.mark.django_db
def test_default_expiry_is_24_hours() -> None:
    name = _save(1)
    token = storage.signed_url(name).rsplit("/", 1)[1]
    grant = storage.file_token_read(token)
    assert grant.name == name
    assert abs(grant.expires_at.timestamp() - (time.time() + 24 * 3600)) < 5


@pytest.mark.django_db
def test_signed_url_for_refuses_another_workspaces_file() -> None:
    mine, theirs = make_workspace(), make_workspace()
    name = _save(theirs.pk)
    with pytest.raises(storage.WrongWorkspaceError):
        storage.signed_url_for(name, workspace=mine)
    assert "/files/" in storage.signed_url_for(_save(mine.pk), workspace=mine)


def test_only_get_and_head(client: Client) -> None:
    assert client.post("/files/whatever").status_code == 405


@pytest.mark.s3
@pytest.mark.django_db
def test_s3_urls_are_presigned_with_an_expiry_and_the_bucket_is_private(
    s3_endpoint: str, settings: Any
) -> None:
    bucket = make_bucket(s3_endpoint)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage_settings(s3_endpoint, bucket)["storages"]["default"],
    }
    assert storage.storage_is_s3()
    name = _save(7)

    url = storage.signed_url(name, filename="cutout.png")
    assert url.startswith(s3_endpoint) and "X-Amz-Signature" in url
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == PNG
    assert "attachment" in response.headers.get("content-disposition", "")

    # Not public: the same object without a signature is refused.
    plain = f"{s3_endpoint}/{bucket}/{name}"
    assert httpx.get(plain).status_code == 403

    # Valid 24 hours by default, or as asked (the S3 server enforces the expiry it signs).
    assert "X-Amz-Expires=86400" in storage.signed_url(name)
    assert "X-Amz-Expires=60" in storage.signed_url(name, expires=60)


@pytest.mark.s3
@pytest.mark.django_db
def test_an_old_local_link_on_s3_redirects_to_a_presigned_url(
    s3_endpoint: str, settings: Any, client: Client
) -> None:
    from django.core import signing

    bucket = make_bucket(s3_endpoint)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage_settings(s3_endpoint, bucket)["storages"]["default"],
    }
    name = _save(7)
    token = signing.dumps(
        {"n": name, "f": "", "x": int(time.time()) + 600}, salt=storage.SIGNING_SALT, compress=True
    )
    response = client.get(f"/files/{token}")
    assert response.status_code == 302
    assert httpx.get(response["Location"]).content == PNG
