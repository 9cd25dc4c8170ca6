"""A delivery attempt holds no transaction and no row lock while its POST is out, and a second
attempt asked for meanwhile does not send the event again."""

from __future__ import annotations

import threading
from typing import Any

import httpx
from django.db import connection, connections, transaction

from cutout.models import WebhookDelivery
from cutout.webhooks.delivery import delivery_attempt
from cutout.webhooks.services import endpoint_create, ping
from tests.factories import make_workspace


def _in_another_thread(work: Any) -> Any:
    """Run ``work`` on a thread of its own (so with a database connection of its own)."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = work()
        except Exception as exc:  # handed back to the test
            out["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    if "error" in out:
        raise out["error"]
    return out.get("value")


def test_the_post_goes_out_with_no_transaction_and_no_lock(
    postgres: None, transactional_db: None, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CUTOUT_FETCH_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    workspace = make_workspace()
    endpoint = endpoint_create(workspace=workspace, url="http://127.0.0.1:9/hooks")
    with django_capture_on_commit_callbacks(execute=False):
        delivery = ping(endpoint=endpoint)
    seen: list[dict[str, Any]] = []

    def lock_row() -> bool:
        with transaction.atomic():
            row = WebhookDelivery.objects.select_for_update(nowait=True).get(id=delivery.id)
        return row.attempts == 1  # the attempt was counted (committed) before the POST

    def again() -> Any:
        return delivery_attempt(delivery_id=delivery.id)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(
            {
                "in_transaction": connection.in_atomic_block,
                "row_free_and_claimed": _in_another_thread(lock_row),
                "second_attempt": _in_another_thread(again),
            }
        )
        return httpx.Response(204)

    done = delivery_attempt(delivery_id=delivery.id, transport=httpx.MockTransport(handler))

    assert len(seen) == 1, "the second attempt asked for meanwhile sent the event again"
    assert seen[0]["in_transaction"] is False
    assert seen[0]["row_free_and_claimed"] is True
    assert seen[0]["second_attempt"].attempts == 1
    assert done is not None and done.status == WebhookDelivery.Status.SUCCEEDED
    assert done.attempts == 1 and done.response_status == 204 and done.duration_ms is not None
