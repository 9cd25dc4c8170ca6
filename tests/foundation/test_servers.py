"""The real servers CI starts: PostgreSQL, Redis and an S3-compatible store.

Locally these skip when the server is missing; in CI (CI=true) they fail instead.
"""

from __future__ import annotations

import uuid

import boto3
import pytest
import redis
from django.core.files.base import ContentFile
from django.db import connection
from storages.backends.s3 import S3Storage


@pytest.mark.postgres
def test_suite_runs_on_postgresql(postgres: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    assert int(version.split(".")[0]) >= 15


@pytest.mark.redis
def test_redis_round_trip(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    key = f"cutout-test:{uuid.uuid4().hex}"
    client.set(key, b"cutout", ex=30)
    assert client.get(key) == b"cutout"
    client.delete(key)


@pytest.mark.s3
def test_s3_storage_round_trip_with_presigned_url(s3_endpoint: str) -> None:
    import httpx

    bucket = f"cutout-test-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    storage = S3Storage(
        bucket_name=bucket,
        endpoint_url=s3_endpoint,
        access_key="test",
        secret_key="test",
        region_name="us-east-1",
        addressing_style="path",
        querystring_auth=True,
        default_acl=None,
    )
    name = storage.save("ws/1/cutouts/x/result.png", ContentFile(b"\x89PNG fake"))
    url = storage.url(name)
    assert "X-Amz-Signature" in url or "Signature" in url
    assert httpx.get(url).content == b"\x89PNG fake"
    storage.delete(name)
    assert not storage.exists(name)
