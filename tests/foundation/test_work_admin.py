"""The Django admin for the work: read-only lists with filters and search, and the two actions
(re-run a failed batch item, retry a failed webhook delivery) going through their services."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role
from cutout.cutouts.services import cutout_create
from cutout.engine import Options
from cutout.jobs.processing import job_item_fail
from cutout.jobs.services import job_create
from cutout.models import Cutout, Job, JobItem, WebhookDelivery, WebhookEndpoint
from cutout.webhooks.delivery import MAX_ATTEMPTS, delivery_attempt
from cutout.webhooks.services import endpoint_create, ping
from tests.factories import add_member, balance_and_held, grant, make_account, make_workspace
from tests.images import photo, photos
from tests.webhooks.test_webhooks import Receiver

FAST = {"pipeline": "fast", "mode": "transparent", "format": "png"}
PAGES = ("cutout", "job", "jobitem", "webhookdelivery", "webhookendpoint")


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(make_account(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    settings.CUTOUT_FETCH_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    server = Receiver()
    yield server
    server.close()


def _failed_item(
    django_capture_on_commit_callbacks: Any, *, keep_originals: bool = True
) -> JobItem:
    """A job of one photo whose item failed before it ran (as when its task gave up)."""
    workspace = make_workspace(keep_originals=keep_originals)
    user = add_member(workspace, Role.OWNER)
    grant(workspace, 5)
    with django_capture_on_commit_callbacks(execute=False):
        job = job_create(workspace=workspace, options=FAST, files=photos(1), user=user)
    item = job.items.get()
    job_item_fail(item_id=item.id, error_code="storage_error", error_message="S3 was down.")
    item.refresh_from_db()
    assert item.status == JobItem.Status.FAILED
    return item


def _some_work(django_capture_on_commit_callbacks: Any) -> None:
    """One of each row the pages list: a failed item and its job, a cutout, a delivery."""
    item = _failed_item(django_capture_on_commit_callbacks)
    workspace = item.job.workspace
    cutout_create(workspace=workspace, data=photo(1), options=Options(pipeline="fast"))
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace, url="https://hooks.example.com/c"
    )
    with django_capture_on_commit_callbacks(execute=False):
        ping(endpoint=endpoint)


def _list(client: Client, model: str, **params: str) -> Any:
    return client.get(reverse(f"admin:cutout_{model}_changelist"), params)


@pytest.mark.django_db
def test_each_list_shows_filters_and_search_and_nothing_can_be_added(
    operator: Client, django_capture_on_commit_callbacks: Any
) -> None:
    item = _failed_item(django_capture_on_commit_callbacks)
    for model in PAGES:
        page = _list(operator, model)
        assert page.status_code == 200, model
        assert b'id="changelist-search"' in page.content or model == "webhookendpoint"
        add = operator.get(reverse(f"admin:cutout_{model}_add"))
        assert add.status_code == 403, model
    found = _list(operator, "jobitem", q=item.name, status__exact="failed")
    assert item.name.encode() in found.content and b"storage_error" in found.content
    # The detail page shows the item, read-only: a POST changes nothing.
    url = reverse("admin:cutout_jobitem_change", args=[item.pk])
    assert operator.get(url).status_code == 200
    assert operator.post(url, {"status": "done"}).status_code == 403
    item.refresh_from_db()
    assert item.status == JobItem.Status.FAILED


@pytest.mark.django_db
def test_a_list_page_costs_the_same_queries_for_one_row_or_many(
    operator: Client, django_capture_on_commit_callbacks: Any
) -> None:
    _some_work(django_capture_on_commit_callbacks)
    _list(operator, "job")  # the operator's first request makes their personal workspace
    counts: dict[str, int] = {}
    for model in PAGES:
        with CaptureQueriesContext(connection) as one:
            assert _list(operator, model).status_code == 200
        counts[model] = len(one)
    for _ in range(3):
        _some_work(django_capture_on_commit_callbacks)
    for model in PAGES:
        with CaptureQueriesContext(connection) as many:
            assert _list(operator, model).status_code == 200
        assert len(many) == counts[model], model


@pytest.mark.django_db
def test_rerunning_a_failed_item_processes_it_and_charges_it_once(
    operator: Client, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    item = _failed_item(django_capture_on_commit_callbacks)
    workspace = item.job.workspace
    assert balance_and_held(workspace) == (5, 0)
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(
            reverse("admin:cutout_jobitem_changelist"),
            {"action": "rerun_failed", "_selected_action": [str(item.pk)]},
            follow=True,
        )
    assert b"1 item(s) queued again." in response.content
    item.refresh_from_db()
    assert item.status == JobItem.Status.DONE and item.error_code == ""
    assert item.cutout is not None and item.cutout.status == Cutout.Status.SUCCEEDED
    assert Job.objects.get(pk=item.job_id).status == Job.Status.DONE
    assert balance_and_held(workspace) == (4, 0)


@pytest.mark.django_db
def test_items_that_cannot_be_rerun_are_skipped(
    operator: Client, django_capture_on_commit_callbacks: Any
) -> None:
    gone = _failed_item(django_capture_on_commit_callbacks, keep_originals=False)
    assert gone.input.name == ""  # its upload was deleted when it failed
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = operator.post(
            reverse("admin:cutout_jobitem_changelist"),
            {"action": "rerun_failed", "_selected_action": [str(gone.pk)]},
            follow=True,
        )
    assert b"0 item(s) queued again. 1 skipped" in response.content
    assert queued == []
    gone.refresh_from_db()
    assert gone.status == JobItem.Status.FAILED


@pytest.mark.django_db
def test_retrying_a_failed_delivery_sends_it_once_more(
    operator: Client, eager: None, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    endpoint = endpoint_create(workspace=make_workspace(), url=receiver.url)
    receiver.status = 503
    with django_capture_on_commit_callbacks(execute=False):
        delivery = ping(endpoint=endpoint)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        delivery_attempt(delivery_id=delivery.id, attempt=attempt)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    receiver.status = 200  # the receiver is fixed
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(
            reverse("admin:cutout_webhookdelivery_changelist"),
            {"action": "retry_failed", "_selected_action": [str(delivery.pk)]},
            follow=True,
        )
    assert b"1 deliveries queued again." in response.content
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert delivery.attempts == MAX_ATTEMPTS + 1
    assert len(receiver.requests) == MAX_ATTEMPTS + 1
    # Delivered: a second retry does nothing.
    with django_capture_on_commit_callbacks(execute=True):
        operator.post(
            reverse("admin:cutout_webhookdelivery_changelist"),
            {"action": "retry_failed", "_selected_action": [str(delivery.pk)]},
        )
    assert len(receiver.requests) == MAX_ATTEMPTS + 1


@pytest.mark.django_db
def test_staff_without_the_change_permission_see_no_actions(
    django_capture_on_commit_callbacks: Any,
) -> None:
    from django.contrib.auth.models import Permission

    viewer = make_account(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_jobitem"))
    client = Client()
    client.force_login(viewer)
    page = _list(client, "jobitem")
    assert page.status_code == 200
    assert b"rerun_failed" not in page.content
