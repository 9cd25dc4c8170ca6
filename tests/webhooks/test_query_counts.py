"""The webhooks page's query count, pinned: more endpoints and a longer delivery log cost no more
queries (an N+1 would add some per row, and fail here)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from cutout.models import WebhookDelivery, WebhookEndpoint
from tests.factories import make_cast

pytestmark = pytest.mark.django_db

# The number of queries the page takes, whatever the number of rows (8 since the header asks once
# whether the workspace ever had credits, as every page of the web app now does).
WEBHOOKS_PAGE = 8


@pytest.mark.parametrize("rows", (2, 10))
def test_webhooks_page(rows: int, django_assert_num_queries: Any) -> None:
    cast = make_cast()
    for i in range(rows):
        endpoint = WebhookEndpoint.objects.create(
            workspace=cast.team, url=f"https://hooks{i}.example.com/in", created_by=cast.owner.user
        )
        WebhookDelivery.objects.create(
            endpoint=endpoint,
            workspace=cast.team,
            event="ping",
            dedup_key=f"ping:{i}",
            attempts=1,
            response_status=204,
            duration_ms=12,
            status=WebhookDelivery.Status.SUCCEEDED,
        )
    client = cast.owner.client
    client.get(reverse("webhooks"))  # warm caches (session, content types)
    with django_assert_num_queries(WEBHOOKS_PAGE):
        response = client.get(reverse("webhooks"))
    assert len(response.context["endpoints"]) == rows
    assert len(response.context["deliveries"]) == rows
