"""Named people for account tests (and anyone else's): build them with these helpers.

- owner (Olivia): owner of the team "Acme"
- admin (Adam): admin of Acme
- teammate (Tess): member of Acme
- outsider (Oscar): owner of the team "Globex"; not in Acme
Everyone also has a personal workspace, as every real user does.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.test import Client

from accounts import services
from accounts.middleware import SESSION_KEY
from accounts.models import Membership, Role, User, Workspace

PASSWORD = "correct horse battery staple"


@dataclass
class Persona:
    user: User
    client: Client
    workspace: Workspace  # the workspace the client is currently in
    personal: Workspace

    @property
    def membership(self) -> Membership:
        return Membership.objects.get(user=self.user, workspace=self.workspace)


def make_user(email: str, *, verified: bool = True) -> User:
    return services.user_create(email=email, password=PASSWORD, verified=verified)


def client_in(user: User, workspace: Workspace) -> Client:
    """A test client signed in as ``user`` with ``workspace`` current."""
    client = Client()
    client.force_login(user)
    session = client.session
    session[SESSION_KEY] = workspace.pk
    session.save()
    return client


def persona(user: User, workspace: Workspace) -> Persona:
    personal = Workspace.objects.get(
        kind=Workspace.Kind.PERSONAL, memberships__user=user, memberships__role=Role.OWNER
    )
    return Persona(
        user=user, client=client_in(user, workspace), workspace=workspace, personal=personal
    )


@dataclass
class Cast:
    owner: Persona
    admin: Persona
    teammate: Persona
    outsider: Persona
    team: Workspace
    other_team: Workspace


def make_cast() -> Cast:
    olivia = make_user("olivia@example.com")
    adam = make_user("adam@example.com")
    tess = make_user("tess@example.com")
    oscar = make_user("oscar@example.com")
    acme = services.workspace_create(name="Acme", owner=olivia)
    services.membership_add(workspace=acme, user=adam, role=Role.ADMIN)
    services.membership_add(workspace=acme, user=tess, role=Role.MEMBER)
    globex = services.workspace_create(name="Globex", owner=oscar)
    return Cast(
        owner=persona(olivia, acme),
        admin=persona(adam, acme),
        teammate=persona(tess, acme),
        outsider=persona(oscar, globex),
        team=acme,
        other_team=globex,
    )
