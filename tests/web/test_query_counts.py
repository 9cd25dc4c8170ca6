"""Query counts of the web app's list pages, pinned: a list twice or five times as long costs the
same number of queries (an N+1 would add some per row, and fail here).

Rows are made straight from the models (no engine run), by a member and by an API key, so every
relation a row shows (who made it, its cutout) is exercised.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from accounts.models import Role
from billing.services import credits_debit
from cutout.models import Cutout, Job, JobItem, Source
from tests.factories import Cast, add_member, make_cast

pytestmark = pytest.mark.django_db

SIZES = (2, 10)


def _cutout(cast: Cast, i: int, **extra: Any) -> Cutout:
    by_key = i % 2 == 1
    return Cutout.objects.create(
        workspace=cast.team,
        created_by=None if by_key else cast.owner.user,
        api_key=cast.caller.api_key if by_key else None,
        source=Source.API if by_key else Source.WEB,
        status=Cutout.Status.SUCCEEDED,
        options={"mode": "transparent", "format": "png"},
        input_name=f"photo-{i}.jpg",
        input_sha256=f"{i:064d}",
        result=f"ws/{cast.team.pk}/cutouts/{i:08d}/result.png",
        matte=f"ws/{cast.team.pk}/cutouts/{i:08d}/matte.png",
        **extra,
    )


def _job(cast: Cast, n: int, *, items: int = 2) -> Job:
    job = Job.objects.create(
        workspace=cast.team,
        created_by=cast.owner.user if n % 2 == 0 else None,
        api_key=cast.caller.api_key if n % 2 else None,
        options={"mode": "transparent", "format": "png"},
    )
    for position in range(items):
        JobItem.objects.create(
            job=job,
            position=position,
            name=f"item-{position}.png",
            status=JobItem.Status.DONE,
            cutout=_cutout(cast, n * 1000 + position),
        )
    return job


@pytest.fixture
def cast() -> Cast:
    made = make_cast()
    # The API caller's key must belong to the team for its rows to show there.
    made.caller.api_key.workspace = made.team
    made.caller.api_key.save(update_fields=["workspace"])
    return made


@pytest.mark.parametrize("rows", SIZES)
def test_library(cast: Cast, rows: int, django_assert_num_queries: Any) -> None:
    for i in range(rows):
        _cutout(cast, i)
    client = cast.owner.client
    client.get(reverse("library"))  # warm caches (session, content types)
    with django_assert_num_queries(LIBRARY):
        response = client.get(reverse("library"))
    assert len(response.context["page"].object_list) == rows


@pytest.mark.parametrize("rows", SIZES)
def test_batches(cast: Cast, rows: int, django_assert_num_queries: Any) -> None:
    for n in range(rows):
        _job(cast, n)
    client = cast.owner.client
    client.get(reverse("batches"))
    with django_assert_num_queries(BATCHES):
        response = client.get(reverse("batches"))
    assert len(response.context["page"].object_list) == rows


@pytest.mark.parametrize("rows", SIZES)
def test_batch_status(cast: Cast, rows: int, django_assert_num_queries: Any) -> None:
    job = _job(cast, 1, items=rows)
    client = cast.owner.client
    url = reverse("batch_status", args=[job.pk])
    client.get(url)
    with django_assert_num_queries(BATCH_STATUS):
        response = client.get(url)
    assert len(response.json()["items"]) == rows


@pytest.mark.parametrize("rows", SIZES)
def test_usage(cast: Cast, rows: int, django_assert_num_queries: Any, settings: Any) -> None:
    from tests.factories import grant

    grant(cast.team, 100)
    for i in range(rows):
        # Each charge by someone else: the chart has a series per member.
        member = add_member(cast.team, Role.MEMBER)
        credits_debit(
            workspace=cast.team,
            amount=1,
            reason="cutout",
            idempotency_key=f"usage-{i}",
            actor_user=member,
        )
    client = cast.owner.client
    client.get(reverse("workspace_usage"))
    with django_assert_num_queries(USAGE):
        response = client.get(reverse("workspace_usage"))
    assert len(response.context["members"]) == rows


# The pins: the number of queries each page takes, whatever the number of rows. The team has no
# credits, so the layout asks once whether it ever had some (its banner is a first step, not a
# warning); the batch status carries the workspace's credits for the header's counter.
LIBRARY = 10
BATCHES = 8
BATCH_STATUS = 8
USAGE = 7
