"""Business writes for accounts: users, workspaces, memberships, invitations, API keys.

Every function is keyword-only and atomic. Functions taking ``by`` check that user's role in the
workspace and raise :class:`accounts.errors.NotAllowed`; ``by=None`` means a trusted caller
(management commands, tests, other services).
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from accounts import errors, permissions, selectors, tokens
from accounts.models import ApiKey, Invitation, Membership, Role, User, Workspace
from billing.services import credits_grant

PERSONAL_WORKSPACE_NAME = "Personal"

logger = logging.getLogger(__name__)


def _send(*, template: str, context: Mapping[str, Any], to: str) -> None:
    """Sends ``accounts/email/<template>.txt`` with its ``.html`` alternative (from the mail
    task, once the transaction commits); EmailNotSent when it cannot be handed over."""
    subject = render_to_string(f"accounts/email/{template}_subject.txt", context).strip()
    body = render_to_string(f"accounts/email/{template}.txt", context)
    html = render_to_string(f"accounts/email/{template}.html", context)
    try:
        send_mail(subject, body, None, [to], html_message=html)
    except (smtplib.SMTPException, OSError) as exc:
        # The body holds a signed link: log the failure, never the message.
        logger.warning("could not send %s email: %s", template, exc.__class__.__name__)
        raise errors.EmailNotSent() from exc


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def _base_url(base_url: str) -> str:
    return (base_url or settings.SITE_URL).rstrip("/")


def _actor(workspace: Workspace, user: User | None) -> Membership | None:
    """The acting user's membership (locked), or NotAllowed if they are not a member."""
    if user is None:
        return None
    actor = Membership.objects.select_for_update().filter(workspace=workspace, user=user).first()
    if actor is None:
        raise errors.NotAllowed("You are not a member of this workspace.")
    return actor


def _require_manager(workspace: Workspace, user: User | None) -> None:
    actor = _actor(workspace, user)
    if actor is not None and not permissions.can_manage(actor.role):
        raise errors.NotAllowed("Only owners and admins can do that.")


# --- users ------------------------------------------------------------------------------------


def user_create(
    *, email: str, password: str | None, first_name: str = "", verified: bool = False
) -> User:
    """A new user with a personal workspace (owner) and the trial credits in it."""
    email = normalize_email(email)
    if User.objects.filter(email__iexact=email).exists():
        raise errors.EmailTaken()
    with transaction.atomic():
        user = User.objects.create_user(
            email=email,
            password=password,
            first_name=first_name.strip(),
            email_verified_at=timezone.now() if verified else None,
        )
        workspace_ensure_personal(user=user)
    return user


def workspace_ensure_personal(*, user: User) -> Workspace:
    """The user's personal workspace, created (with trial credits) if they have none.

    Users made by ``createsuperuser`` or the admin get theirs on their first request.
    """
    with transaction.atomic():
        existing = Workspace.objects.filter(
            kind=Workspace.Kind.PERSONAL, memberships__user=user, memberships__role=Role.OWNER
        ).first()
        if existing is not None:
            return existing
        workspace = _workspace_new(
            name=PERSONAL_WORKSPACE_NAME,
            slug_base=user.email.split("@", 1)[0],
            kind=Workspace.Kind.PERSONAL,
            created_by=user,
        )
        Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
        trial_credits_grant(workspace=workspace)
    return workspace


def trial_credits_grant(*, workspace: Workspace) -> None:
    """The trial credits for a workspace, once (idempotent; nothing when the setting is 0)."""
    amount = int(settings.CUTOUT_TRIAL_CREDITS)
    if amount <= 0:
        return
    credits_grant(
        workspace=workspace,
        amount=amount,
        reason="Trial credits",
        kind="trial",
        idempotency_key=f"trial:{workspace.id}",
    )


def email_verification_url(*, user: User, base_url: str = "") -> str:
    token = tokens.sign({"u": user.pk, "e": user.email}, salt=tokens.VERIFY_SALT)
    return _base_url(base_url) + reverse("verify_email", args=[token])


def email_verification_send(*, user: User, base_url: str = "") -> None:
    context = {"user": user, "url": email_verification_url(user=user, base_url=base_url)}
    _send(template="verify_email", context=context, to=user.email)


def email_verify(*, token: str) -> User:
    """Marks the email address in ``token`` as verified; raises VerificationInvalid."""
    try:
        data = tokens.unsign(token, salt=tokens.VERIFY_SALT, max_age=tokens.VERIFY_TTL)
        pk, email = data["u"], data["e"]
    except (signing.BadSignature, KeyError, TypeError):
        raise errors.VerificationInvalid() from None
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=pk).first()
        if user is None or user.email != email:
            raise errors.VerificationInvalid()
        if user.email_verified_at is None:
            user.email_verified_at = timezone.now()
            user.save(update_fields=["email_verified_at"])
    return user


# --- workspaces and memberships ---------------------------------------------------------------


def _random_suffix() -> str:
    return tokens.random_string(4)


def _workspace_new(*, name: str, slug_base: str, kind: str, created_by: User | None) -> Workspace:
    base = slugify(slug_base)[:48].strip("-") or "workspace"
    for attempt in range(20):
        slug = base if attempt == 0 else f"{base}-{_random_suffix()}"
        if Workspace.objects.filter(slug=slug).exists():
            continue
        try:
            with transaction.atomic():
                return Workspace.objects.create(
                    name=name, slug=slug, kind=kind, created_by=created_by
                )
        except IntegrityError:
            continue
    raise RuntimeError(f"Could not find a free workspace slug for {base!r}.")


def workspace_create(*, name: str, owner: User, kind: str = Workspace.Kind.TEAM) -> Workspace:
    """A new workspace (unique slug from the name) with ``owner`` as its owner."""
    name = name.strip()
    if not name:
        raise ValueError("A workspace needs a name.")
    with transaction.atomic():
        workspace = _workspace_new(name=name[:100], slug_base=name, kind=kind, created_by=owner)
        Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    return workspace


def workspace_update(
    *,
    workspace: Workspace,
    name: str,
    keep_originals: bool,
    retention_days: int | None,
    by: User | None = None,
) -> Workspace:
    name = name.strip()
    if not name:
        raise ValueError("A workspace needs a name.")
    with transaction.atomic():
        _require_manager(workspace, by)
        workspace.name = name[:100]
        workspace.keep_originals = keep_originals
        workspace.retention_days = retention_days
        workspace.save(update_fields=["name", "keep_originals", "retention_days"])
    return workspace


EDIT_WINDOW_MAX_HOURS = 24 * 30


def workspace_set_edit_window(
    *, workspace: Workspace, hours: int, by: User | None = None
) -> Workspace:
    """How long new cutouts' originals are kept so they can be refined (guided cutouts):
    0 to :data:`EDIT_WINDOW_MAX_HOURS` hours; 0 deletes originals at once (unless the workspace
    keeps originals). Owners and admins only. Cutouts already made keep their own window."""
    if isinstance(hours, bool) or not isinstance(hours, int):
        raise ValueError("The editing window is a whole number of hours.")
    if not 0 <= hours <= EDIT_WINDOW_MAX_HOURS:
        raise ValueError(f"The editing window is 0 to {EDIT_WINDOW_MAX_HOURS} hours.")
    with transaction.atomic():
        _require_manager(workspace, by)
        workspace.edit_window_hours = hours
        workspace.save(update_fields=["edit_window_hours"])
    return workspace


def membership_add(*, workspace: Workspace, user: User, role: str = Role.MEMBER) -> Membership:
    if role not in Role.values:
        raise ValueError(f"Unknown role {role!r}.")
    with transaction.atomic():
        existing = list(Membership.objects.select_for_update().filter(workspace=workspace))
        if any(m.user_id == user.pk for m in existing):
            raise errors.AlreadyMember()
        if workspace.kind == Workspace.Kind.PERSONAL and existing:
            raise errors.PersonalWorkspaceError()
        return Membership.objects.create(workspace=workspace, user=user, role=role)


def _owner_count(workspace: Workspace) -> int:
    owners = Membership.objects.select_for_update().filter(workspace=workspace, role=Role.OWNER)
    return len(list(owners))


def membership_set_role(*, membership: Membership, role: str, by: User | None = None) -> Membership:
    """Changes a member's role; the last owner cannot be demoted (LastOwnerError)."""
    if role not in Role.values:
        raise ValueError(f"Unknown role {role!r}.")
    with transaction.atomic():
        target = (
            Membership.objects.select_for_update().select_related("workspace").get(pk=membership.pk)
        )
        actor = _actor(target.workspace, by)
        if actor is not None and not permissions.can_set_role(actor, target, role):
            raise errors.NotAllowed()
        if target.role == role:
            return target
        if target.role == Role.OWNER and _owner_count(target.workspace) <= 1:
            raise errors.LastOwnerError()
        if target.workspace.kind == Workspace.Kind.PERSONAL:
            raise errors.PersonalWorkspaceError()
        target.role = role
        target.save(update_fields=["role"])
    membership.role = role
    return target


def membership_remove(*, membership: Membership, by: User | None = None) -> None:
    """Removes a member (or lets them leave); the last owner cannot leave (LastOwnerError)."""
    with transaction.atomic():
        target = (
            Membership.objects.select_for_update().select_related("workspace").get(pk=membership.pk)
        )
        actor = _actor(target.workspace, by)
        if actor is not None and not permissions.can_remove(actor, target):
            raise errors.NotAllowed()
        if target.role == Role.OWNER and _owner_count(target.workspace) <= 1:
            raise errors.LastOwnerError()
        target.delete()


# --- invitations ------------------------------------------------------------------------------


def invitation_url(*, invitation: Invitation, base_url: str = "") -> str:
    token = tokens.sign(invitation.pk, salt=tokens.INVITATION_SALT)
    return _base_url(base_url) + reverse("invitation_accept", args=[token])


def invitation_create(
    *,
    workspace: Workspace,
    email: str,
    role: str = Role.MEMBER,
    invited_by: User | None = None,
    base_url: str = "",
) -> Invitation:
    """Invites ``email`` (account or not) and emails the link. Replaces a pending invitation."""
    email = normalize_email(email)
    if role not in Role.values:
        raise ValueError(f"Unknown role {role!r}.")
    if workspace.kind == Workspace.Kind.PERSONAL:
        raise errors.PersonalWorkspaceError()
    now = timezone.now()
    with transaction.atomic():
        actor = _actor(workspace, invited_by)
        if actor is not None and not permissions.can_invite(actor.role, role):
            raise errors.NotAllowed(
                "Only owners can invite owners."
                if permissions.can_manage(actor.role)
                else "Only owners and admins can invite people."
            )
        if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
            raise errors.AlreadyMember()
        Invitation.objects.filter(
            workspace=workspace,
            email__iexact=email,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
        ).update(revoked_at=now)
        invitation = Invitation.objects.create(
            workspace=workspace,
            email=email,
            role=role,
            invited_by=invited_by,
            created_at=now,
            expires_at=now + tokens.INVITATION_TTL,
        )
    try:
        invitation_send(invitation=invitation, base_url=base_url)
    except errors.EmailNotSent:
        raise errors.EmailNotSent(
            f"The invitation to {email} is saved, but we could not email it just now. "
            "Use Resend in a moment."
        ) from None
    return invitation


def invitation_send(*, invitation: Invitation, base_url: str = "") -> None:
    context = {
        "invitation": invitation,
        "workspace": invitation.workspace,
        "inviter": invitation.invited_by,
        "url": invitation_url(invitation=invitation, base_url=base_url),
        "expires_at": invitation.expires_at,
    }
    _send(template="invitation", context=context, to=invitation.email)


def invitation_revoke(*, invitation: Invitation, by: User | None = None) -> None:
    with transaction.atomic():
        _require_manager(invitation.workspace, by)
        Invitation.objects.filter(
            pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())


def invitation_accept(*, token: str, user: User) -> Membership:
    """Turns a valid invitation link into a membership, once.

    The invitation must be addressed to the user's email address (InvitationWrongUser); since
    the link reached that mailbox, the address counts as verified.
    """
    with transaction.atomic():
        found = selectors.invitation_from_token(token)
        invitation = (
            Invitation.objects.select_for_update().select_related("workspace").get(pk=found.pk)
        )
        if invitation.accepted_at is not None:
            raise errors.InvitationUsed()
        if invitation.revoked_at is not None:
            raise errors.InvitationRevoked()
        if normalize_email(invitation.email) != normalize_email(user.email):
            raise errors.InvitationWrongUser(
                f"This invitation was sent to {invitation.email}, but you are signed in as "
                f"{user.email}."
            )
        now = timezone.now()
        membership = Membership.objects.filter(workspace=invitation.workspace, user=user).first()
        if membership is None:
            membership = Membership.objects.create(
                workspace=invitation.workspace, user=user, role=invitation.role
            )
        invitation.accepted_at = now
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        if user.email_verified_at is None:
            user.email_verified_at = now
            user.save(update_fields=["email_verified_at"])
    return membership


# --- API keys ---------------------------------------------------------------------------------


def _check_cap(monthly_cap: int | None) -> None:
    if monthly_cap is not None and monthly_cap < 0:
        raise ValueError("A monthly cap cannot be negative.")


def api_key_create(
    *,
    workspace: Workspace,
    name: str,
    created_by: User | None = None,
    monthly_cap: int | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its secret. The secret is returned here once and never stored."""
    _check_cap(monthly_cap)
    with transaction.atomic():
        _require_manager(workspace, created_by)
        for _ in range(10):
            prefix, secret = tokens.new_api_key_secret()
            if ApiKey.objects.filter(prefix=prefix).exists():
                continue
            key = ApiKey.objects.create(
                workspace=workspace,
                name=(name or "").strip()[:100] or "API key",
                prefix=prefix,
                secret_hash=tokens.hash_api_key(secret),
                created_by=created_by,
                monthly_cap=monthly_cap,
            )
            return key, secret
    raise RuntimeError("Could not find a free API key prefix.")


def api_key_update(
    *, api_key: ApiKey, name: str, monthly_cap: int | None, by: User | None = None
) -> ApiKey:
    _check_cap(monthly_cap)
    with transaction.atomic():
        _require_manager(api_key.workspace, by)
        api_key.name = (name or "").strip()[:100] or api_key.name
        api_key.monthly_cap = monthly_cap
        api_key.save(update_fields=["name", "monthly_cap"])
    return api_key


def api_key_revoke(*, api_key: ApiKey, by: User | None = None) -> None:
    """Revokes at once: the next request with this key is refused."""
    with transaction.atomic():
        _require_manager(api_key.workspace, by)
        now = timezone.now()
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now)
    if api_key.revoked_at is None:
        api_key.revoked_at = now
