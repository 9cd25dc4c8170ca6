"""The people, workspaces, keys and credits tests are made of: one cast, made one way.

The cast (:func:`make_cast`):

- owner (Olivia): owner of the team "Acme"
- admin (Adam): admin of Acme
- teammate (Tess): member of Acme
- outsider (Oscar): owner of the team "Globex"; not in Acme
- caller: an API key of its own workspace with credits (made on first use)

Everyone signed up also has a personal workspace, as every real user does. Smaller tests build
what they need with the same pieces: :func:`make_user` (signed up), :func:`make_account` (a bare
account), :func:`make_workspace` (optionally with an owner and credits), :func:`add_member`,
:func:`make_caller` (an API key with credits) and :func:`signed_up` (a person in their personal
workspace with exactly so many credits).
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.test import Client
from django.utils import timezone

from accounts import services as accounts
from accounts.middleware import SESSION_KEY
from accounts.models import ApiKey, Membership, Role, User, Workspace
from billing import services as billing
from billing.selectors import balance_for

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def _n() -> int:
    return next(_counter)


# ---------------------------------------------------------------------------------------------
# People and workspaces


def make_user(email: str | None = None, *, verified: bool = True) -> User:
    """A user as sign-up makes one: with a personal workspace (and its trial credits)."""
    email = email or f"user{_n()}-{uuid.uuid4().hex[:6]}@example.com"
    return accounts.user_create(email=email, password=PASSWORD, verified=verified)


def make_account(email: str | None = None, *, verified: bool = True, **extra: Any) -> User:
    """A bare account in no workspace, made straight from the model (``extra`` goes to it)."""
    return User.objects.create_user(
        email=email or f"account{_n()}-{uuid.uuid4().hex[:6]}@example.com",
        password=PASSWORD,
        email_verified_at=timezone.now() if verified else None,
        **extra,
    )


def make_workspace(
    name: str = "Acme", *, owner: User | None = None, credits: int = 0, **extra: Any
) -> Workspace:
    """A team workspace (``extra`` goes to the model), with ``owner`` and ``credits`` if given."""
    n = _n()
    slug = f"ws-{n}-{uuid.uuid4().hex[:8]}"
    workspace = Workspace.objects.create(name=f"{name} {n}", slug=slug, **extra)
    if owner is not None:
        Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    if credits:
        grant(workspace, credits)
    return workspace


def add_member(workspace: Workspace, role: str = Role.MEMBER, *, user: User | None = None) -> User:
    """``user`` (a new bare account when None) as a member of ``workspace`` with ``role``."""
    user = user or make_account()
    Membership.objects.create(workspace=workspace, user=user, role=role)
    return user


def client_in(user: User, workspace: Workspace) -> Client:
    """A test client signed in as ``user`` with ``workspace`` current."""
    client = Client()
    client.force_login(user)
    session = client.session
    session[SESSION_KEY] = workspace.pk
    session.save()
    return client


def personal_workspace(user: User) -> Workspace:
    return Workspace.objects.get(
        kind=Workspace.Kind.PERSONAL, memberships__user=user, memberships__role=Role.OWNER
    )


# ---------------------------------------------------------------------------------------------
# Credits


def grant(workspace: Workspace, amount: int) -> None:
    billing.credits_grant(
        workspace=workspace,
        amount=amount,
        reason="test credits",
        idempotency_key=f"test-grant:{workspace.pk}:{uuid.uuid4().hex}",
    )


def set_credits(workspace: Workspace, amount: int) -> None:
    """Grant or take away credits until exactly ``amount`` are in the balance."""
    have = balance_for(workspace).balance
    if have > amount:
        billing.credits_debit(
            workspace=workspace,
            amount=have - amount,
            reason="test setup",
            idempotency_key=f"test-debit:{workspace.pk}:{uuid.uuid4().hex}",
            kind="adjustment",
        )
    elif have < amount:
        grant(workspace, amount - have)


def balance(workspace: Workspace | int) -> int:
    """Credits available (balance less what is reserved)."""
    return balance_for(workspace).available


def balance_and_held(workspace: Workspace) -> tuple[int, int]:
    """(balance, reserved)."""
    found = balance_for(workspace)
    return found.balance, found.reserved


# ---------------------------------------------------------------------------------------------
# Personas: a person with a signed-in client


@dataclass
class Persona:
    user: User
    client: Client
    workspace: Workspace  # the workspace the client is currently in
    personal: Workspace

    @property
    def membership(self) -> Membership:
        return Membership.objects.get(user=self.user, workspace=self.workspace)

    @property
    def password(self) -> str:
        return PASSWORD


def persona(user: User, workspace: Workspace) -> Persona:
    return Persona(
        user=user,
        client=client_in(user, workspace),
        workspace=workspace,
        personal=personal_workspace(user),
    )


def signed_up(*, credits: int | None = None) -> Persona:
    """Someone who signed up, working in their personal workspace (trial credits, or exactly
    ``credits``)."""
    user = make_user()
    workspace = personal_workspace(user)
    if credits is not None:
        set_credits(workspace, credits)
    return persona(user, workspace)


# ---------------------------------------------------------------------------------------------
# API callers


@dataclass
class Caller:
    user: User
    workspace: Workspace
    api_key: ApiKey
    secret: str


def make_caller(credits: int = 10, *, monthly_cap: int | None = None) -> Caller:
    """An API key (its secret in hand) of a workspace of its own with ``credits``."""
    n = _n()
    user = make_account(f"api{n}@example.com")
    workspace = make_workspace(f"API {n}", owner=user, credits=credits)
    key, secret = accounts.api_key_create(
        workspace=workspace, name="test key", created_by=user, monthly_cap=monthly_cap
    )
    return Caller(user=user, workspace=workspace, api_key=key, secret=secret)


# ---------------------------------------------------------------------------------------------
# The cast


@dataclass
class Cast:
    owner: Persona
    admin: Persona
    teammate: Persona
    outsider: Persona
    team: Workspace
    other_team: Workspace
    _caller: Caller | None = field(default=None, repr=False)

    @property
    def caller(self) -> Caller:
        """The API caller, made when a test first asks for it."""
        if self._caller is None:
            self._caller = make_caller()
        return self._caller


def make_cast() -> Cast:
    olivia = make_user("olivia@example.com")
    adam = make_user("adam@example.com")
    tess = make_user("tess@example.com")
    oscar = make_user("oscar@example.com")
    acme = accounts.workspace_create(name="Acme", owner=olivia)
    accounts.membership_add(workspace=acme, user=adam, role=Role.ADMIN)
    accounts.membership_add(workspace=acme, user=tess, role=Role.MEMBER)
    globex = accounts.workspace_create(name="Globex", owner=oscar)
    return Cast(
        owner=persona(olivia, acme),
        admin=persona(adam, acme),
        teammate=persona(tess, acme),
        outsider=persona(oscar, globex),
        team=acme,
        other_team=globex,
    )
