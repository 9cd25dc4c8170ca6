"""Web app fixtures: fast pipeline, eager Celery, cheap password hashing, project-made photos."""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from PIL import Image

from tests.browser import LAUNCH_ARGS
from tests.web.images import photo_jpeg


@pytest.fixture(autouse=True)
def _web_settings(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from cutout.celery import app

    # The Celery app read its configuration once; tell it directly, whatever the broker is. With
    # the CELERY_ namespace the prefixed key wins over the plain one, so set both spellings.
    for key in ("task_always_eager", "task_eager_propagates"):
        monkeypatch.setitem(app.conf, key, True)
        monkeypatch.setitem(app.conf, f"CELERY_{key.upper()}", True)
    settings.CUTOUT_DEFAULT_PIPELINE = "fast"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_TASK_EAGER_PROPAGATES = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CUTOUT_TRIAL_CREDITS = 25
    from django.core.cache import cache

    cache.clear()  # sign-up and log-in throttles count in the cache


@functools.cache
def photo(subject: str = "plant", width: int = 640, height: int = 480) -> bytes:
    """A project-made product photo (JPEG) with one clear subject."""
    return photo_jpeg(subject, (width, height))


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=chromium_path, headless=True, args=LAUNCH_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()
            # ORM calls made while playwright runs got their own connection: close it here, or
            # PostgreSQL cannot drop the test database at the end.
            connections.close_all()
