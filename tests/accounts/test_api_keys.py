"""API keys: format, keyed hashing, constant-time check, shown once, revocation, caps."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import errors, selectors, services, tokens
from accounts.models import ApiKey
from tests.factories import Cast

pytestmark = pytest.mark.django_db


def test_secret_format_and_storage(cast: Cast, settings):
    settings.CUTOUT_KEY_PEPPER = "pepper-for-tests"
    key, secret = services.api_key_create(
        workspace=cast.team, name="Shopify sync", created_by=cast.owner.user, monthly_cap=500
    )
    scheme, prefix, rest = secret.split("_")
    assert scheme == "ck" and prefix == key.prefix and len(prefix) == 10 and len(rest) == 40
    expected = hmac.new(b"pepper-for-tests", secret.encode(), hashlib.sha256).hexdigest()
    assert key.secret_hash == expected
    stored = ApiKey.objects.get(pk=key.pk)
    # The secret appears nowhere in the row.
    for value in (stored.name, stored.prefix, stored.secret_hash):
        assert rest not in value and secret not in value
    assert (stored.monthly_cap, stored.created_by, stored.workspace) == (
        500,
        cast.owner.user,
        cast.team,
    )
    assert stored.last_used_at is None and stored.revoked_at is None


def test_hash_depends_on_the_pepper(cast: Cast, settings):
    key, secret = services.api_key_create(workspace=cast.team, name="k")
    assert selectors.api_key_authenticate(secret) == key
    settings.CUTOUT_KEY_PEPPER = "a different pepper"
    assert selectors.api_key_authenticate(secret) is None


def test_authenticate(cast: Cast, django_assert_num_queries):
    key, secret = services.api_key_create(workspace=cast.team, name="k")
    with django_assert_num_queries(2):  # the key with its workspace, then last_used_at
        found = selectors.api_key_authenticate(secret)
    assert found is not None and found == key and found.workspace == cast.team
    with django_assert_num_queries(1):  # used a moment ago: no write
        found = selectors.api_key_authenticate(secret)
    assert found is not None and found.workspace.name == "Acme"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:-1] + ("a" if s[-1] != "a" else "b"),  # wrong secret, right prefix
        lambda s: s.upper(),
        lambda s: s[:-1],
        lambda s: s + "x",
        lambda s: "xk" + s[2:],
        lambda s: s.replace("_", "-"),
        lambda s: "",
        lambda s: " " + s,
        lambda s: "ck_" + "z" * 10 + "_" + "a" * 40,  # well formed, unknown prefix
    ],
)
def test_authenticate_rejects(cast: Cast, mangle):
    _key, secret = services.api_key_create(workspace=cast.team, name="k")
    assert selectors.api_key_authenticate(mangle(secret)) is None


def test_last_used_is_refreshed_at_most_once_a_minute(cast: Cast):
    key, secret = services.api_key_create(workspace=cast.team, name="k")
    selectors.api_key_authenticate(secret)
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    selectors.api_key_authenticate(secret)
    key.refresh_from_db()
    assert key.last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=2))
    selectors.api_key_authenticate(secret)
    key.refresh_from_db()
    assert key.last_used_at > first - timedelta(seconds=1)
    assert timezone.now() - key.last_used_at < timedelta(seconds=5)


def test_revocation_is_immediate(cast: Cast):
    key, secret = services.api_key_create(workspace=cast.team, name="k")
    other, other_secret = services.api_key_create(workspace=cast.team, name="other")
    assert selectors.api_key_authenticate(secret) == key
    services.api_key_revoke(api_key=key, by=cast.admin.user)
    assert selectors.api_key_authenticate(secret) is None
    assert selectors.api_key_authenticate(other_secret) == other
    revoked_at = ApiKey.objects.get(pk=key.pk).revoked_at
    services.api_key_revoke(api_key=key)  # again: no change
    assert ApiKey.objects.get(pk=key.pk).revoked_at == revoked_at


def test_members_cannot_create_or_revoke_keys(cast: Cast):
    with pytest.raises(errors.NotAllowed):
        services.api_key_create(workspace=cast.team, name="k", created_by=cast.teammate.user)
    key, secret = services.api_key_create(workspace=cast.team, name="k")
    with pytest.raises(errors.NotAllowed):
        services.api_key_revoke(api_key=key, by=cast.teammate.user)
    with pytest.raises(errors.NotAllowed):
        services.api_key_revoke(api_key=key, by=cast.outsider.user)
    assert selectors.api_key_authenticate(secret) == key


def test_caps(cast: Cast):
    key, _ = services.api_key_create(workspace=cast.team, name="k")
    assert key.monthly_cap is None
    services.api_key_update(api_key=key, name="k", monthly_cap=0, by=cast.admin.user)
    assert ApiKey.objects.get(pk=key.pk).monthly_cap == 0
    services.api_key_update(api_key=key, name="renamed", monthly_cap=None)
    key.refresh_from_db()
    assert (key.name, key.monthly_cap) == ("renamed", None)
    with pytest.raises(ValueError):
        services.api_key_update(api_key=key, name="k", monthly_cap=-1)
    with pytest.raises(ValueError):
        services.api_key_create(workspace=cast.team, name="k", monthly_cap=-5)


def test_page_shows_the_secret_once(cast: Cast):
    client = cast.admin.client
    made = client.post(reverse("api_keys"), {"name": "Zapier", "monthly_cap": "100"})
    assert made.status_code == 302 and made["Location"] == reverse("api_keys")  # post/redirect/get
    response = client.get(made["Location"])
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    key = ApiKey.objects.get(name="Zapier")
    body = response.content.decode()
    secret = body.split('id="new-secret"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
    assert selectors.api_key_authenticate(secret) == key
    assert key.monthly_cap == 100 and key.created_by == cast.admin.user
    later = client.get(reverse("api_keys")).content.decode()
    assert secret not in later and f"ck_{key.prefix}_" in later
    assert key.secret_hash not in later and key.secret_hash not in body


def test_page_cap_validation(cast: Cast):
    response = cast.owner.client.post(reverse("api_keys"), {"name": "x", "monthly_cap": "-3"})
    assert response.status_code == 200
    assert "greater than or equal to 0" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_page_update_and_revoke(cast: Cast):
    key, secret = services.api_key_create(workspace=cast.team, name="prod")
    client = cast.owner.client
    response = client.post(
        reverse("api_key_update", args=[key.pk]),
        {f"k{key.pk}-name": "prod", f"k{key.pk}-monthly_cap": "250"},
    )
    assert response.status_code == 302
    assert ApiKey.objects.get(pk=key.pk).monthly_cap == 250
    client.post(reverse("api_key_update", args=[key.pk]), {f"k{key.pk}-name": "prod"})
    assert ApiKey.objects.get(pk=key.pk).monthly_cap is None
    assert client.post(reverse("api_key_revoke", args=[key.pk])).status_code == 302
    assert selectors.api_key_authenticate(secret) is None
    assert "revoked" in client.get(reverse("api_keys")).content.decode()


def test_members_get_403_on_key_pages(cast: Cast):
    key, secret = services.api_key_create(workspace=cast.team, name="prod")
    client = cast.teammate.client
    assert client.get(reverse("api_keys")).status_code == 403
    assert client.post(reverse("api_keys"), {"name": "mine"}).status_code == 403
    assert client.post(reverse("api_key_revoke", args=[key.pk])).status_code == 403
    assert (
        client.post(
            reverse("api_key_update", args=[key.pk]), {f"k{key.pk}-monthly_cap": "1"}
        ).status_code
        == 403
    )
    assert ApiKey.objects.count() == 1
    assert selectors.api_key_authenticate(secret) == key


def test_keys_page_lists_only_this_workspace(cast: Cast):
    services.api_key_create(workspace=cast.team, name="acme-key")
    services.api_key_create(workspace=cast.other_team, name="globex-key")
    body = cast.owner.client.get(reverse("api_keys")).content.decode()
    assert "acme-key" in body and "globex-key" not in body


def test_prefix_parser():
    prefix, secret = tokens.new_api_key_secret()
    assert tokens.parse_api_key_prefix(secret) == prefix
    assert tokens.parse_api_key_prefix("ck_" + prefix + "_" + "A" * 40) is None
