"""Web app fixtures: fast pipeline, eager Celery, cheap password hashing, project-made photos."""

from __future__ import annotations

import functools
import io
import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image

from accounts.models import User, Workspace
from tests.web.images import photo_jpeg

_counter = itertools.count(1)


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


@dataclass
class Person:
    user: User
    workspace: Workspace
    password: str


def make_person(*, credits: int | None = None) -> Person:
    """A verified user with a personal workspace (trial credits, or exactly ``credits``)."""
    from accounts.services import user_create
    from billing.selectors import balance_for
    from billing.services import credits_debit, credits_grant

    n = next(_counter)
    password = "a long enough test phrase"
    user = user_create(email=f"web{n}@example.com", password=password, verified=True)
    workspace = Workspace.objects.get(memberships__user=user, kind=Workspace.Kind.PERSONAL)
    if credits is not None:
        have = balance_for(workspace).balance
        if have > credits:
            credits_debit(
                workspace=workspace,
                amount=have - credits,
                reason="test setup",
                idempotency_key=f"web-test-debit:{n}",
                kind="adjustment",
            )
        elif have < credits:
            credits_grant(
                workspace=workspace,
                amount=credits - have,
                reason="test setup",
                idempotency_key=f"web-test-grant:{n}",
            )
    return Person(user=user, workspace=workspace, password=password)
