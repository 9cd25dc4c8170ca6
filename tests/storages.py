"""Storage for tests: the local disk (the default) or a fresh bucket on the S3 test server."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import boto3

from cutout import config

S3_KEY = "cutout-test"


def make_bucket(endpoint: str) -> str:
    bucket = f"cutout-jobs-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_KEY,
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    return bucket


def s3_storage_settings(endpoint: str, bucket: str) -> dict[str, Any]:
    env = {
        "CUTOUT_S3_BUCKET": bucket,
        "CUTOUT_S3_ENDPOINT_URL": endpoint,
        "CUTOUT_S3_ACCESS_KEY_ID": S3_KEY,
        "CUTOUT_S3_SECRET_ACCESS_KEY": S3_KEY,
        "CUTOUT_S3_REGION": "us-east-1",
    }
    return {"storages": config.storages(env, Path("/nonexistent")), "env": env}


class Backend:
    """Which storage a test runs on, and the environment a worker needs to use the same."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.env = env

    def __repr__(self) -> str:
        return self.name
