"""Who may do what inside a workspace. Pure functions of roles, shared by services and templates.

- owner: everything, including making or removing other owners.
- admin: manages members (not owners), invitations (not as owner), API keys and billing.
- member: uploads, runs cutouts, sees the library and the member list; may leave.
A workspace never loses its last owner (see ``services.membership_remove``).
"""

from __future__ import annotations

from accounts.models import MANAGER_ROLES, Membership, Role


def can_manage(role: str) -> bool:
    """Manage members, invitations, API keys and billing."""
    return role in MANAGER_ROLES


def can_invite(actor_role: str, invite_role: str) -> bool:
    if not can_manage(actor_role):
        return False
    return invite_role != Role.OWNER or actor_role == Role.OWNER


def can_set_role(actor: Membership, target: Membership, new_role: str) -> bool:
    """Whether ``actor`` may give ``target`` the role ``new_role`` (last-owner rule aside)."""
    if actor.workspace_id != target.workspace_id or new_role not in Role.values:
        return False
    if actor.role == Role.OWNER:
        return True
    if actor.role == Role.ADMIN:
        return target.role != Role.OWNER and new_role != Role.OWNER
    return False


def can_remove(actor: Membership, target: Membership) -> bool:
    """Whether ``actor`` may remove ``target`` (anyone may leave; last-owner rule aside)."""
    if actor.workspace_id != target.workspace_id:
        return False
    if actor.pk == target.pk:
        return True
    if actor.role == Role.OWNER:
        return True
    if actor.role == Role.ADMIN:
        return target.role != Role.OWNER
    return False


def assignable_roles(actor_role: str) -> list[tuple[str, str]]:
    """The (value, label) roles this actor may hand out, for forms."""
    if actor_role == Role.OWNER:
        return list(Role.choices)
    if actor_role == Role.ADMIN:
        return [(value, label) for value, label in Role.choices if value != Role.OWNER]
    return []
