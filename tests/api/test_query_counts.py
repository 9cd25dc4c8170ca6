"""The native API's list endpoint (a job with its items) in a pinned number of queries: a job of
ten items costs what a job of two does (an N+1 would add some per item, and fail here)."""

from __future__ import annotations

from typing import Any

import pytest

from cutout.models import Cutout, Job, JobItem, Source
from tests.factories import make_caller

pytestmark = pytest.mark.django_db

# The number of queries GET /api/v1/jobs/<id> takes, whatever the number of items.
JOB_DETAIL = 4


@pytest.mark.parametrize("items", (2, 10))
def test_job_detail(client: Any, items: int, django_assert_num_queries: Any) -> None:
    caller = make_caller()
    job = Job.objects.create(
        workspace=caller.workspace,
        api_key=caller.api_key,
        source=Source.API,
        options={"mode": "transparent", "format": "png"},
    )
    for position in range(items):
        cutout = Cutout.objects.create(
            workspace=caller.workspace,
            api_key=caller.api_key,
            source=Source.API,
            status=Cutout.Status.SUCCEEDED,
            input_sha256=f"{position:064d}",
            result=f"ws/{caller.workspace.pk}/cutouts/{position:08d}/result.png",
        )
        JobItem.objects.create(
            job=job,
            position=position,
            name=f"{position}.png",
            status=JobItem.Status.DONE,
            cutout=cutout,
        )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {caller.secret}"}
    client.get(f"/api/v1/jobs/{job.pk}", **auth)  # warm caches
    with django_assert_num_queries(JOB_DETAIL):
        response = client.get(f"/api/v1/jobs/{job.pk}", **auth)
    assert response.status_code == 200
    assert len(response.json()["items"]) == items
