from __future__ import annotations

import pytest

from tests.accounts.personas import Cast, Persona, make_cast


@pytest.fixture
def cast(db: None) -> Cast:
    return make_cast()


@pytest.fixture
def owner(cast: Cast) -> Persona:
    return cast.owner


@pytest.fixture
def admin(cast: Cast) -> Persona:
    return cast.admin


@pytest.fixture
def teammate(cast: Cast) -> Persona:
    return cast.teammate


@pytest.fixture
def outsider(cast: Cast) -> Persona:
    return cast.outsider


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    """The real hasher is slow on purpose; these tests create many users."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_throttle_counters() -> None:
    """Sign-in/sign-up/reset throttles count in the process-wide cache: start each test at 0."""
    from django.core.cache import cache

    cache.clear()
