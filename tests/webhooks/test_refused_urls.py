"""A webhook URL that is refused when it is sent to (its host now resolves inward) fails its
delivery at once and disables the endpoint with the reason on the page, instead of retrying for a
day (issue 17, item 13); a host that does not resolve for a while is still retried."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from accounts.models import Role
from cutout.files import remote
from cutout.models import WebhookDelivery, WebhookEndpoint
from cutout.webhooks.delivery import delivery_attempt
from cutout.webhooks.services import endpoint_create, job_completed, ping
from tests.factories import add_member, client_in, make_workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {"hooks.example.com": ["93.184.216.34"]}

    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]

    monkeypatch.setattr(remote, "resolve", resolve)
    return table


def _never_called(request: httpx.Request) -> httpx.Response:
    raise AssertionError("nothing may be sent to a refused address")


def test_a_refused_url_fails_at_once_and_disables_the_endpoint(
    dns, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = make_workspace()
    endpoint = endpoint_create(workspace=workspace, url="https://hooks.example.com/cutout")
    with django_capture_on_commit_callbacks(execute=False):
        delivery = ping(endpoint=endpoint)
    dns["hooks.example.com"] = ["10.20.30.40"]  # the name now points inside our network
    done = delivery_attempt(delivery_id=delivery.id, transport=httpx.MockTransport(_never_called))
    assert done is not None
    assert done.status == WebhookDelivery.Status.FAILED and done.attempts == 1
    assert done.next_attempt_at is None and "not allowed" in done.error
    assert "10.20.30.40" not in done.error
    endpoint.refresh_from_db()
    assert not endpoint.is_active and "not allowed" in endpoint.disabled_reason
    assert endpoint.disabled_at is not None
    # No more events go to it.
    assert job_completed(job=_finished_job(workspace)) == []


def _finished_job(workspace: Any) -> Any:
    from cutout.models import Job

    return Job.objects.create(workspace=workspace, status=Job.Status.DONE)


def test_a_host_that_does_not_resolve_is_retried(
    dns, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = make_workspace()
    endpoint = endpoint_create(workspace=workspace, url="https://hooks.example.com/cutout")
    with django_capture_on_commit_callbacks(execute=False):
        delivery = ping(endpoint=endpoint)
    del dns["hooks.example.com"]  # a DNS hiccup, not a refusal
    done = delivery_attempt(delivery_id=delivery.id, transport=httpx.MockTransport(_never_called))
    assert done is not None
    assert done.status == WebhookDelivery.Status.PENDING and done.next_attempt_at is not None
    endpoint.refresh_from_db()
    assert endpoint.is_active


def test_the_page_shows_why_and_a_manager_can_enable_it_again(dns) -> None:
    workspace = make_workspace()
    owner = add_member(workspace, Role.OWNER)
    endpoint = endpoint_create(workspace=workspace, url="https://hooks.example.com/cutout")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=False,
        disabled_reason="Not sent: The URL points to an address that is not allowed.",
    )
    client = client_in(owner, workspace)
    page = client.get("/webhooks/").content.decode()
    assert (
        "Disabled" in page
        and "points to an address that is not allowed" in page
        and "Enable again" in page
    )
    dns["hooks.example.com"] = ["10.0.0.1"]
    client.post("/webhooks/", {"action": "enable", "endpoint": str(endpoint.pk)})
    endpoint.refresh_from_db()
    assert not endpoint.is_active  # still refused: it stays off
    dns["hooks.example.com"] = ["93.184.216.34"]
    client.post("/webhooks/", {"action": "enable", "endpoint": str(endpoint.pk)})
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.disabled_reason == ""
