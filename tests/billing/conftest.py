"""Billing fixtures: people and workspaces made straight from the models (no accounts services)."""

from __future__ import annotations

import itertools

import pytest

from accounts.models import Membership, Role, User, Workspace

_counter = itertools.count(1)


def make_workspace(name: str = "Acme", *, owner: User | None = None) -> Workspace:
    n = next(_counter)
    workspace = Workspace.objects.create(name=f"{name} {n}", slug=f"ws-{n}-{name.lower()}"[:60])
    if owner is not None:
        Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    return workspace


def make_user(email: str | None = None, *, verified: bool = True, **extra: object) -> User:
    from django.utils import timezone

    n = next(_counter)
    return User.objects.create_user(
        email=email or f"user{n}@example.com",
        password="correct horse battery staple",
        email_verified_at=timezone.now() if verified else None,
        **extra,
    )


@pytest.fixture
def owner(db: None) -> User:
    return make_user("owner@example.com")


@pytest.fixture
def workspace(owner: User) -> Workspace:
    return make_workspace("Acme", owner=owner)
