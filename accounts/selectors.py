"""Reads that need care: tenant scoping, current workspace, API-key authentication, tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from django.core import signing
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import Case, IntegerField, Model, QuerySet, Value, When
from django.http import Http404
from django.utils import timezone

from accounts import errors, tokens
from accounts.models import ApiKey, Invitation, Membership, Role, User, Workspace

M = TypeVar("M", bound=Model)

# A key's last_used_at is written at most this often, so hot keys cost no write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


# --- tenant isolation -------------------------------------------------------------------------


def for_workspace(
    queryset: QuerySet[M], workspace: Workspace | None, *, field: str = "workspace"
) -> QuerySet[M]:
    """``queryset`` limited to rows of ``workspace`` (nothing at all when it is None).

    ``field`` is the lookup path to the workspace, e.g. ``"job__workspace"`` for job items.
    """
    if workspace is None:
        return queryset.none()
    return queryset.filter(**{field: workspace})


def get_for_workspace(
    queryset: QuerySet[M], workspace: Workspace | None, *, field: str = "workspace", **lookup: Any
) -> M:
    """The one object of ``workspace`` matching ``lookup``; Http404 for anything else.

    Another workspace's object, a missing one and a malformed id (say, a bad UUID) all give the
    same 404, so nobody can learn whether an object exists in a workspace they are not in.
    """
    try:
        return for_workspace(queryset, workspace, field=field).get(**lookup)
    except (ObjectDoesNotExist, ValidationError, ValueError, TypeError):
        raise Http404("No such object in this workspace.") from None


# --- memberships ------------------------------------------------------------------------------


def memberships_for_user(user: User) -> QuerySet[Membership]:
    """The user's memberships with their workspaces, personal first, then by name."""
    return (
        Membership.objects.filter(user=user)
        .select_related("workspace")
        .order_by("workspace__kind", "workspace__name", "workspace_id")
    )


def membership_current(user: User, workspace_id: Any = None) -> Membership | None:
    """The membership to use for a request, in one query.

    The workspace remembered in the session wins if the user is (still) a member of it; then the
    personal workspace; then the oldest membership.
    """
    try:
        wanted = int(workspace_id) if workspace_id is not None else None
    except (TypeError, ValueError):
        wanted = None
    whens = [When(workspace__kind=Workspace.Kind.PERSONAL, then=Value(1))]
    if wanted is not None:
        whens.insert(0, When(workspace_id=wanted, then=Value(0)))
    rank = Case(*whens, default=Value(2), output_field=IntegerField())
    return (
        Membership.objects.filter(user=user)
        .select_related("workspace")
        .order_by(rank, "created_at", "pk")
        .first()
    )


def workspace_members(workspace: Workspace) -> QuerySet[Membership]:
    order = Case(
        When(role=Role.OWNER, then=Value(0)),
        When(role=Role.ADMIN, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return (
        Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by(order, "user__email")
    )


def invitations_pending(workspace: Workspace) -> QuerySet[Invitation]:
    return (
        Invitation.objects.filter(
            workspace=workspace,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .select_related("invited_by")
        .order_by("-created_at")
    )


def invitation_from_token(token: str) -> Invitation:
    """The invitation a link points to, if it can still be accepted.

    Raises :class:`errors.InvitationInvalid` (bad or unknown token) or one of its subclasses
    ``InvitationExpired``, ``InvitationUsed``, ``InvitationRevoked``.
    """
    try:
        pk = tokens.unsign(token, salt=tokens.INVITATION_SALT, max_age=tokens.INVITATION_TTL)
    except signing.SignatureExpired:
        raise errors.InvitationExpired() from None
    except signing.BadSignature:
        raise errors.InvitationInvalid() from None
    invitation = (
        Invitation.objects.select_related("workspace", "invited_by").filter(pk=pk).first()
        if isinstance(pk, int)
        else None
    )
    if invitation is None:
        raise errors.InvitationInvalid()
    if invitation.accepted_at is not None:
        raise errors.InvitationUsed()
    if invitation.revoked_at is not None:
        raise errors.InvitationRevoked()
    if invitation.expires_at <= timezone.now():
        raise errors.InvitationExpired()
    return invitation


# --- API keys ---------------------------------------------------------------------------------


def api_keys_for_workspace(workspace: Workspace) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(workspace=workspace).select_related("created_by")


def api_key_authenticate(secret: str) -> ApiKey | None:
    """The active key for ``secret`` (with its workspace loaded), or None.

    None for malformed, unknown and revoked keys. The secret is compared through its keyed hash
    with :func:`hmac.compare_digest`. ``last_used_at`` is refreshed at most once a minute.
    """
    prefix = tokens.parse_api_key_prefix(secret)
    if prefix is None:
        return None
    key = ApiKey.objects.select_related("workspace").filter(prefix=prefix).first()
    if key is None:
        # Spend the same hashing work as for a known prefix.
        tokens.api_key_matches(secret, "0" * 64)
        return None
    if not tokens.api_key_matches(secret, key.secret_hash) or key.revoked_at is not None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
