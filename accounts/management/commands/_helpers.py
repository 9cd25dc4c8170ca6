"""Shared lookups for the account commands: clear CommandErrors instead of tracebacks."""

from __future__ import annotations

from django.core.management.base import CommandError

from accounts.models import User, Workspace


def workspace_by_slug(slug: str) -> Workspace:
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None:
        raise CommandError(f"No workspace with slug {slug!r}.")
    return workspace


def user_by_email(email: str) -> User:
    user = User.objects.filter(email__iexact=(email or "").strip()).first()
    if user is None:
        raise CommandError(f"No user with email {email!r}: create one with create_user first.")
    return user
