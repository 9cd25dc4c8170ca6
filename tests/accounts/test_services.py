"""Services: users, workspaces, memberships and the role rules."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate

from accounts import errors, services
from accounts.models import Membership, Role, User, Workspace
from billing.models import LedgerEntry
from billing.selectors import balance_for
from tests.factories import PASSWORD, Cast, make_user

pytestmark = pytest.mark.django_db


def test_user_create_makes_personal_workspace_with_trial_credits(settings):
    settings.CUTOUT_TRIAL_CREDITS = 25
    user = services.user_create(email="  New.Person@Example.COM ", password=PASSWORD)

    assert user.email == "new.person@example.com"
    assert not user.email_verified
    assert authenticate(username="new.person@example.com", password=PASSWORD) == user
    membership = Membership.objects.select_related("workspace").get(user=user)
    assert membership.role == Role.OWNER
    workspace = membership.workspace
    assert workspace.kind == Workspace.Kind.PERSONAL
    assert workspace.slug == "newperson"
    assert workspace.created_by == user
    assert balance_for(workspace).balance == 25
    entry = LedgerEntry.objects.get(workspace=workspace)
    assert (entry.kind, entry.amount, entry.reason) == ("trial", 25, "Trial credits")
    assert entry.idempotency_key == f"trial:{workspace.id}"


def test_trial_credits_are_granted_once(settings):
    settings.CUTOUT_TRIAL_CREDITS = 25
    user = make_user("once@example.com")
    workspace = services.workspace_ensure_personal(user=user)
    services.trial_credits_grant(workspace=workspace)
    services.trial_credits_grant(workspace=workspace)
    assert balance_for(workspace).balance == 25
    assert LedgerEntry.objects.filter(workspace=workspace).count() == 1


def test_no_trial_grant_when_setting_is_zero(settings):
    settings.CUTOUT_TRIAL_CREDITS = 0
    user = make_user("zero@example.com")
    workspace = services.workspace_ensure_personal(user=user)
    assert balance_for(workspace).balance == 0
    assert not LedgerEntry.objects.filter(workspace=workspace).exists()


def test_verified_flag_and_duplicate_email():
    user = services.user_create(email="v@example.com", password=PASSWORD, verified=True)
    assert user.email_verified and user.email_verified_at is not None
    with pytest.raises(errors.EmailTaken):
        services.user_create(email="V@EXAMPLE.com", password=PASSWORD)
    assert User.objects.filter(email__iexact="v@example.com").count() == 1


def test_slugs_are_unique_and_readable():
    a = make_user("sam@one.example")
    b = make_user("sam@two.example")
    slugs = {services.workspace_ensure_personal(user=u).slug for u in (a, b)}
    assert len(slugs) == 2 and "sam" in slugs
    team1 = services.workspace_create(name="Shop Editors", owner=a)
    team2 = services.workspace_create(name="Shop  editors!", owner=b)
    assert team1.slug == "shop-editors"
    assert team2.slug.startswith("shop-editors-") and team2.slug != team1.slug
    assert services.workspace_create(name="東京", owner=a).slug.startswith("workspace")
    with pytest.raises(ValueError):
        services.workspace_create(name="   ", owner=a)


def test_ensure_personal_is_idempotent():
    user = make_user("p@example.com")
    first = services.workspace_ensure_personal(user=user)
    assert services.workspace_ensure_personal(user=user) == first
    assert Workspace.objects.filter(kind=Workspace.Kind.PERSONAL, created_by=user).count() == 1


def test_team_creator_is_owner(cast: Cast):
    membership = Membership.objects.get(workspace=cast.team, user=cast.owner.user)
    assert membership.role == Role.OWNER
    assert cast.team.kind == Workspace.Kind.TEAM


def test_membership_add_rejects_duplicates_and_personal_workspaces(cast: Cast):
    with pytest.raises(errors.AlreadyMember):
        services.membership_add(workspace=cast.team, user=cast.teammate.user, role=Role.MEMBER)
    with pytest.raises(errors.PersonalWorkspaceError):
        services.membership_add(workspace=cast.owner.personal, user=cast.outsider.user)
    with pytest.raises(ValueError):
        services.membership_add(workspace=cast.team, user=cast.outsider.user, role="king")


def test_last_owner_cannot_leave_or_be_demoted(cast: Cast):
    owner_membership = cast.owner.membership
    with pytest.raises(errors.LastOwnerError):
        services.membership_remove(membership=owner_membership, by=cast.owner.user)
    with pytest.raises(errors.LastOwnerError):
        services.membership_set_role(membership=owner_membership, role=Role.ADMIN)
    with pytest.raises(errors.LastOwnerError):
        services.membership_remove(membership=owner_membership)
    # With a second owner, the first one may leave.
    services.membership_set_role(
        membership=cast.admin.membership, role=Role.OWNER, by=cast.owner.user
    )
    services.membership_remove(membership=owner_membership, by=cast.owner.user)
    assert not Membership.objects.filter(pk=owner_membership.pk).exists()
    with pytest.raises(errors.LastOwnerError):
        services.membership_remove(membership=cast.admin.membership, by=cast.admin.user)


def test_personal_workspace_owner_cannot_leave(cast: Cast):
    membership = Membership.objects.get(workspace=cast.teammate.personal, user=cast.teammate.user)
    with pytest.raises(errors.LastOwnerError):
        services.membership_remove(membership=membership, by=cast.teammate.user)


@pytest.mark.parametrize(
    ("actor", "target", "role", "allowed"),
    [
        ("owner", "admin", Role.MEMBER, True),
        ("owner", "teammate", Role.OWNER, True),
        ("admin", "teammate", Role.ADMIN, True),
        ("admin", "teammate", Role.OWNER, False),  # only owners make owners
        ("admin", "owner", Role.MEMBER, False),  # admins cannot touch owners
        ("teammate", "admin", Role.MEMBER, False),  # members manage nobody
        ("teammate", "teammate", Role.ADMIN, False),  # nor promote themselves
        ("outsider", "teammate", Role.ADMIN, False),  # not in the workspace at all
    ],
)
def test_role_change_rules(cast: Cast, actor, target, role, allowed):
    target_membership = Membership.objects.get(workspace=cast.team, user=getattr(cast, target).user)
    before = target_membership.role
    if allowed:
        services.membership_set_role(
            membership=target_membership, role=role, by=getattr(cast, actor).user
        )
        assert Membership.objects.get(pk=target_membership.pk).role == role
    else:
        with pytest.raises(errors.NotAllowed):
            services.membership_set_role(
                membership=target_membership, role=role, by=getattr(cast, actor).user
            )
        assert Membership.objects.get(pk=target_membership.pk).role == before


@pytest.mark.parametrize(
    ("actor", "target", "allowed"),
    [
        ("owner", "admin", True),
        ("owner", "teammate", True),
        ("admin", "teammate", True),
        ("admin", "owner", False),
        ("teammate", "admin", False),
        ("teammate", "teammate", True),  # leaving
        ("admin", "admin", True),  # leaving
        ("outsider", "teammate", False),
    ],
)
def test_remove_rules(cast: Cast, actor, target, allowed):
    target_membership = Membership.objects.get(workspace=cast.team, user=getattr(cast, target).user)
    if allowed:
        services.membership_remove(membership=target_membership, by=getattr(cast, actor).user)
        assert not Membership.objects.filter(pk=target_membership.pk).exists()
    else:
        with pytest.raises(errors.NotAllowed):
            services.membership_remove(membership=target_membership, by=getattr(cast, actor).user)
        assert Membership.objects.filter(pk=target_membership.pk).exists()


def test_workspace_update_needs_a_manager(cast: Cast):
    with pytest.raises(errors.NotAllowed):
        services.workspace_update(
            workspace=cast.team,
            name="Hacked",
            keep_originals=True,
            retention_days=1,
            by=cast.teammate.user,
        )
    services.workspace_update(
        workspace=cast.team,
        name="Acme Studio",
        keep_originals=True,
        retention_days=30,
        by=cast.admin.user,
    )
    cast.team.refresh_from_db()
    assert (cast.team.name, cast.team.keep_originals, cast.team.retention_days) == (
        "Acme Studio",
        True,
        30,
    )
