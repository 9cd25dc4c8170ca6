"""Shared fixtures.

Tests that need a real server (PostgreSQL, Redis, S3, Chromium, a Celery worker) ask for it with
:func:`require`. Outside CI a missing server skips the test; with ``CI=true`` it fails it, so CI
can never pass by skipping what it was meant to check.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.storages import Backend, make_bucket, s3_storage_settings

IN_CI = os.environ.get("CI", "").lower() == "true"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def require(available: bool, what: str) -> None:
    """Skip (locally) or fail (in CI) when a server the test needs is not there."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available", pytrace=False)
    pytest.skip(f"{what} not available (set it up as .ci/run does, or run in CI)")


def _port_open(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("CUTOUT_TEST_REDIS_URL", "")
    require(bool(url) and _port_open(url, 6379), "Redis (CUTOUT_TEST_REDIS_URL)")
    return url


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    url = os.environ.get("CUTOUT_TEST_S3_ENDPOINT", "")
    require(bool(url) and _port_open(url, 80), "an S3-compatible server (CUTOUT_TEST_S3_ENDPOINT)")
    return url


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CUTOUT_CHROMIUM", "/usr/bin/chromium")
    require(Path(path).exists() or shutil.which(path) is not None, f"Chromium at {path}")
    return path


@pytest.fixture
def postgres(db: None) -> None:
    from django.db import connection

    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL)")


@pytest.fixture(autouse=True)
def _isolated_media(settings: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """Each test writes its files into its own temporary media folder."""
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media  # type: ignore[attr-defined]
    storages = dict(settings.STORAGES)  # type: ignore[attr-defined]
    if storages["default"]["BACKEND"].endswith("FileSystemStorage"):
        storages["default"] = {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media)},
        }
    storages["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    settings.STORAGES = storages  # type: ignore[attr-defined]
    yield


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: pytest.FixtureRequest) -> None:
    """The real hasher is slow on purpose; the suite creates many users."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Throttles and rate limits count in the cache: every test starts from zero."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests save screenshots and images for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# ---------------------------------------------------------------------------------------------
# Storage backends and Celery


@pytest.fixture(params=["filesystem", "s3"])
def backend(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> Iterator[Backend]:
    """Runs the test once on the local disk and once on a new bucket of the S3 server."""
    if request.param == "filesystem":
        yield Backend("filesystem", {})
        return
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = make_bucket(endpoint)
    made = s3_storage_settings(endpoint, bucket)
    # Django's setting_changed handler resets default_storage to the new backend.
    settings.STORAGES = {**settings.STORAGES, "default": made["storages"]["default"]}
    yield Backend("s3", made["env"])


@pytest.fixture
def eager() -> Iterator[None]:
    """Tasks run inline, in this process (queued from on_commit as in production)."""
    from cutout.celery import app

    # The app reads Django settings through the CELERY_ namespace, so overrides use those names.
    saved = app.conf.get("CELERY_TASK_ALWAYS_EAGER")
    app.conf.CELERY_TASK_ALWAYS_EAGER = True
    assert app.conf.task_always_eager and app.conf.task_eager_propagates
    yield
    app.conf.CELERY_TASK_ALWAYS_EAGER = bool(saved)
