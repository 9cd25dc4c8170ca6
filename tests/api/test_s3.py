"""On S3 the result URLs handed out by the API are the bucket's own presigned URLs (24 hours)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.storages import make_bucket, s3_storage_settings

from .images import image_bytes, open_image

pytestmark = pytest.mark.s3


@pytest.fixture
def on_s3(s3_endpoint, settings) -> str:
    made = s3_storage_settings(s3_endpoint, make_bucket(s3_endpoint))
    settings.STORAGES = {**settings.STORAGES, "default": made["storages"]["default"]}
    return s3_endpoint


def test_ailab_image_url_is_presigned_for_24_hours(client, caller, on_s3) -> None:
    r = client.post(
        "/api/cutout/general/universal-background-removal",
        {"image": SimpleUploadedFile("a.jpg", image_bytes(160, 120))},
        HTTP_AILABAPI_API_KEY=caller.secret,
    )
    assert r.status_code == 200, r.content
    url = r.json()["data"]["image_url"]
    assert url.startswith(on_s3)
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["86400"] and "X-Amz-Signature" in query
    assert f"/ws/{caller.workspace.pk}/cutouts/" in urlsplit(url).path
    fetched = requests.get(url, timeout=30)
    assert fetched.status_code == 200 and open_image(fetched.content).mode == "RGBA"
    # Without the signature the bucket refuses: nothing is public.
    assert requests.get(url.split("?", 1)[0], timeout=30).status_code == 403


def test_native_result_url_on_s3(client, caller, on_s3) -> None:
    r = client.post(
        "/api/v1/cutouts",
        {"image": SimpleUploadedFile("a.jpg", image_bytes(160, 120)), "format": "webp"},
        HTTP_AUTHORIZATION=f"Bearer {caller.secret}",
    )
    assert r.status_code == 201, r.content
    result = r.json()["result"]
    fetched = requests.get(result["download_url"], timeout=30)
    assert fetched.status_code == 200 and open_image(fetched.content).format == "WEBP"
    assert "attachment" in fetched.headers.get("Content-Disposition", "")
