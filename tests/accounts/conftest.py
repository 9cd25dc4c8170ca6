from __future__ import annotations

import pytest

from tests.factories import Cast, Persona, make_cast


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
