"""Django admin: changelists with filters at a fixed query count; never a secret or hash."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from accounts import selectors, services
from accounts.models import ApiKey, Invitation, Membership, User, Workspace
from tests.factories import PASSWORD, Cast, client_in, make_user

pytestmark = pytest.mark.django_db

MODELS = ("user", "workspace", "membership", "invitation", "apikey")


@pytest.fixture
def staff(db) -> Client:
    user = User.objects.create_superuser(email="staff@example.com", password=PASSWORD)
    return client_in(user, services.workspace_ensure_personal(user=user))


def _grow(cast: Cast, n: int) -> None:
    for i in range(n):
        tag = f"{i}-{User.objects.count()}"
        user = make_user(f"row{tag}@example.com", verified=bool(i % 2))
        team = services.workspace_create(name=f"Team {tag}", owner=user)
        services.membership_add(workspace=cast.team, user=user)
        services.invitation_create(workspace=team, email=f"inv{tag}@example.com", invited_by=user)
        services.api_key_create(workspace=team, name=f"key {tag}", created_by=user)


# Queries per changelist: session, user, then count/filter/list queries; membership 1 more for
# the current workspace (middleware). The numbers are the same for 5 rows and for 25.
EXPECTED = {"user": 6, "workspace": 6, "membership": 6, "invitation": 6, "apikey": 6}


@pytest.mark.parametrize("model", MODELS)
def test_changelist_query_counts(cast: Cast, staff, django_assert_num_queries, mailoutbox, model):
    url = reverse(f"admin:accounts_{model}_changelist")
    _grow(cast, 2)
    with django_assert_num_queries(EXPECTED[model]):
        assert staff.get(url).status_code == 200
    _grow(cast, 20)
    with django_assert_num_queries(EXPECTED[model]):
        response = staff.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 20


@pytest.mark.parametrize(
    ("model", "query"),
    [
        ("user", "verified=yes"),
        ("user", "is_staff__exact=1"),
        ("workspace", "kind__exact=team"),
        ("membership", "role__exact=admin"),
        ("membership", "workspace__kind__exact=personal"),
        ("invitation", "role__exact=member"),
        ("invitation", "accepted_at__isempty=1"),
        ("apikey", "revoked_at__isempty=1"),
    ],
)
def test_changelist_filters(cast: Cast, staff, mailoutbox, model, query):
    _grow(cast, 3)
    response = staff.get(reverse(f"admin:accounts_{model}_changelist") + "?" + query)
    assert response.status_code == 200
    assert response.context["cl"].result_count > 0


def test_user_filter_by_verification(cast: Cast, staff, mailoutbox):
    make_user("unverified@example.com", verified=False)
    url = reverse("admin:accounts_user_changelist")
    unverified = {u.email for u in staff.get(url + "?verified=no").context["cl"].result_list}
    assert unverified == {"unverified@example.com", "staff@example.com"}


def test_api_key_admin_never_shows_the_hash(cast: Cast, staff):
    key, secret = services.api_key_create(workspace=cast.team, name="prod", monthly_cap=5)
    for url in (
        reverse("admin:accounts_apikey_changelist"),
        reverse("admin:accounts_apikey_change", args=[key.pk]),
    ):
        body = staff.get(url).content.decode()
        assert f"ck_{key.prefix}_" in body
        assert key.secret_hash not in body and secret not in body
    assert staff.get(reverse("admin:accounts_apikey_add")).status_code == 403


def test_api_key_admin_revoke_action(cast: Cast, staff):
    key, secret = services.api_key_create(workspace=cast.team, name="prod")
    response = staff.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk]},
    )
    assert response.status_code == 302
    assert selectors.api_key_authenticate(secret) is None


def test_api_key_admin_edits_the_cap(cast: Cast, staff):
    key, secret = services.api_key_create(workspace=cast.team, name="prod")
    response = staff.post(
        reverse("admin:accounts_apikey_change", args=[key.pk]),
        {"name": "prod", "monthly_cap": "77"},
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.monthly_cap == 77
    assert selectors.api_key_authenticate(secret) == key  # hash untouched


def test_invitation_admin_withdraw_action(cast: Cast, staff, mailoutbox):
    invitation = services.invitation_create(workspace=cast.team, email="x@example.com")
    staff.post(
        reverse("admin:accounts_invitation_changelist"),
        {"action": "revoke", "_selected_action": [invitation.pk]},
    )
    assert Invitation.objects.get(pk=invitation.pk).revoked_at is not None


def test_admin_user_creation_makes_a_personal_workspace(staff):
    response = staff.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "Made@Admin.example",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(email="made@admin.example")
    assert Membership.objects.get(user=user).workspace.kind == Workspace.Kind.PERSONAL


def test_change_pages_open(cast: Cast, staff, mailoutbox):
    invitation = services.invitation_create(workspace=cast.team, email="x@example.com")
    pages = [
        ("user", cast.owner.user.pk),
        ("workspace", cast.team.pk),
        ("membership", Membership.objects.filter(workspace=cast.team).earliest("pk").pk),
        ("invitation", invitation.pk),
    ]
    for model, pk in pages:
        assert staff.get(reverse(f"admin:accounts_{model}_change", args=[pk])).status_code == 200
    assert ApiKey.objects.count() == 0


def test_view_only_staff_cannot_revoke_keys_or_withdraw_invitations(cast: Cast, mailoutbox):
    """Admin actions that change rows need the change permission, like the change form does."""
    viewer = User.objects.create_user(email="viewer@example.com", password=PASSWORD, is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_apikey", "view_invitation"])
    )
    client = client_in(viewer, services.workspace_ensure_personal(user=viewer))
    key, secret = services.api_key_create(workspace=cast.team, name="prod")
    invitation = services.invitation_create(workspace=cast.team, email="y@example.com")
    listing = client.get(reverse("admin:accounts_apikey_changelist"))
    assert listing.status_code == 200 and 'value="revoke"' not in listing.content.decode()
    client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk]},
    )
    client.post(
        reverse("admin:accounts_invitation_changelist"),
        {"action": "revoke", "_selected_action": [invitation.pk]},
    )
    assert selectors.api_key_authenticate(secret) == key
    assert Invitation.objects.get(pk=invitation.pk).revoked_at is None
