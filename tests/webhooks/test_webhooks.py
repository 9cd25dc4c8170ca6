"""Completion webhooks: a real HTTP receiver, signatures, retries, the SSRF guard, the log page."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Role
from cutout.jobs.services import job_create, job_finish
from cutout.models import Job, WebhookDelivery, WebhookEndpoint
from cutout.webhooks.delivery import MAX_ATTEMPTS, delivery_attempt, sign, signature_verify
from cutout.webhooks.services import WebhookUrlError, deliveries_due, endpoint_create, ping
from tests.factories import add_member, grant, make_workspace
from tests.images import photos

FAST = {"pipeline": "fast", "mode": "transparent", "format": "png"}


class Receiver:
    """A local HTTP server that records what it is sent and answers with a chosen status."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"thanks" if receiver.status < 300 else b"nope")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/cutout"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    # The SSRF guard refuses loopback; this test's receiver is allowed explicitly.
    settings.CUTOUT_FETCH_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    server = Receiver()
    yield server
    server.close()


@pytest.mark.django_db
def test_finished_job_sends_a_signed_webhook(
    receiver: Receiver, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = make_workspace()
    grant(workspace, 5)
    endpoint = endpoint_create(workspace=workspace, url=receiver.url)
    assert endpoint.secret.startswith("whsec_") and len(endpoint.secret) > 30

    with django_capture_on_commit_callbacks(execute=True):
        job = job_create(workspace=workspace, files=photos(2), options=FAST)

    assert len(receiver.requests) == 1
    sent = receiver.requests[0]
    headers = {key.lower(): value for key, value in sent["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers["cutout-event"] == "job.completed"
    assert signature_verify(endpoint.secret, headers["cutout-signature"], sent["body"])
    assert not signature_verify("whsec_wrong", headers["cutout-signature"], sent["body"])
    assert not signature_verify(endpoint.secret, headers["cutout-signature"], sent["body"] + b" ")
    payload = json.loads(sent["body"])
    assert payload["type"] == "job.completed"
    data = payload["data"]["job"]
    assert data["id"] == str(job.id) and data["status"] == Job.Status.DONE
    assert (data["total"], data["done"], data["failed"]) == (2, 2, 0)
    assert data["results_zip_url"] and len(data["items"]) == 2
    assert all(item["result_url"] for item in data["items"])

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert headers["cutout-delivery"] == str(delivery.id) == payload["id"]
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert delivery.attempts == 1 and delivery.response_status == 200
    assert delivery.response_excerpt == "thanks"

    # Closing the job again (a redelivered task) sends nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        job_finish(job_id=job.id)
        Job.objects.filter(id=job.id).update(status=Job.Status.RUNNING)
        job_finish(job_id=job.id)
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1
    assert len(receiver.requests) == 1


def test_signature_rejects_old_timestamps() -> None:
    body = b'{"a":1}'
    old = sign("whsec_x", body, timestamp=1_000_000)
    assert not signature_verify("whsec_x", old, body)
    assert signature_verify("whsec_x", sign("whsec_x", body), body)
    assert not signature_verify("whsec_x", "garbage", body)


@pytest.mark.django_db
def test_failures_are_retried_with_backoff_then_given_up(
    receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = make_workspace()
    endpoint = endpoint_create(workspace=workspace, url=receiver.url)
    receiver.status = 503
    with django_capture_on_commit_callbacks(execute=False):
        delivery = ping(endpoint=endpoint)

    before = timezone.now()
    delivery_attempt(delivery_id=delivery.id, attempt=1)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert delivery.attempts == 1 and delivery.response_status == 503
    assert "503" in delivery.error
    assert delivery.next_attempt_at is not None
    first_wait = (delivery.next_attempt_at - before).total_seconds()
    assert 50 <= first_wait <= 70

    # A stale copy of attempt 1 does nothing; attempt 2 waits longer after failing.
    delivery_attempt(delivery_id=delivery.id, attempt=1)
    assert len(receiver.requests) == 1
    delivery_attempt(delivery_id=delivery.id, attempt=2)
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    assert (delivery.next_attempt_at - timezone.now()).total_seconds() > 200

    for attempt in range(3, MAX_ATTEMPTS + 1):
        delivery_attempt(delivery_id=delivery.id, attempt=attempt)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.attempts == MAX_ATTEMPTS
    assert delivery.next_attempt_at is None
    assert len(receiver.requests) == MAX_ATTEMPTS


@pytest.mark.django_db
def test_due_deliveries_are_queued_by_the_beat_task(
    receiver: Receiver, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = make_workspace()
    endpoint = endpoint_create(workspace=workspace, url=receiver.url)
    receiver.status = 500
    with django_capture_on_commit_callbacks(execute=True):
        delivery = ping(endpoint=endpoint)
    delivery.refresh_from_db()
    assert delivery.attempts == 1

    receiver.status = 204
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_due() == 0  # not due yet
        WebhookDelivery.objects.filter(id=delivery.id).update(
            next_attempt_at=timezone.now() - timedelta(seconds=1)
        )
        assert deliveries_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED and delivery.attempts == 2
    assert len(receiver.requests) == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/hook",
        "http://[::1]/hook",
        "ftp://example.com/hook",
        "http://user:pass@example.com/hook",
        "not a url",
    ],
)
def test_private_and_odd_urls_are_refused(url: str) -> None:
    workspace = make_workspace()
    with pytest.raises(WebhookUrlError):
        endpoint_create(workspace=workspace, url=url)
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_an_endpoint_that_turns_private_is_not_called(
    receiver: Receiver, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The guard runs on every attempt, not only when the URL is saved (DNS may change)."""
    workspace = make_workspace()
    endpoint = endpoint_create(workspace=workspace, url=receiver.url)
    settings.CUTOUT_FETCH_ALLOWED_NETWORKS = []
    with django_capture_on_commit_callbacks(execute=False):
        delivery = ping(endpoint=endpoint)
    delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert receiver.requests == []
    # Refused at once (no retries for a day) and the endpoint stops, saying why.
    assert delivery.status == WebhookDelivery.Status.FAILED and "not allowed" in delivery.error
    endpoint.refresh_from_db()
    assert not endpoint.is_active and "not allowed" in endpoint.disabled_reason


@pytest.mark.django_db
def test_webhooks_page_shows_the_log_and_only_managers_edit(
    receiver: Receiver, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = make_workspace()
    owner = add_member(workspace, Role.OWNER)
    member = add_member(workspace, Role.MEMBER)
    other = make_workspace()
    other_endpoint = endpoint_create(workspace=other, url=receiver.url)

    client.force_login(owner)
    _use(client, workspace)
    page = client.get("/webhooks/")
    assert page.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/webhooks/", {"action": "create", "url": receiver.url})
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get(workspace=workspace)
    page = client.get("/webhooks/")
    assert endpoint.secret in page.content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/webhooks/", {"action": "ping", "endpoint": str(endpoint.id)})
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    delivery_attempt(delivery_id=delivery.id)
    assert "Delivered" in client.get("/webhooks/").content.decode()

    refused = client.post("/webhooks/", {"action": "create", "url": "http://10.1.2.3/x"})
    assert refused.status_code == 400 and "not allowed" in refused.content.decode()
    # Another workspace's endpoint is not found from here.
    gone = client.post("/webhooks/", {"action": "delete", "endpoint": str(other_endpoint.id)})
    assert gone.status_code == 404

    client.force_login(member)
    _use(client, workspace)
    text = client.get("/webhooks/").content.decode()
    assert "Delivered" in text and endpoint.secret not in text
    assert (
        client.post("/webhooks/", {"action": "delete", "endpoint": str(endpoint.id)}).status_code
        == 403
    )
    assert WebhookEndpoint.objects.filter(id=endpoint.id).exists()


def _use(client: Client, workspace: Any) -> None:
    from accounts.middleware import SESSION_KEY

    session = client.session
    session[SESSION_KEY] = workspace.pk
    session.save()
