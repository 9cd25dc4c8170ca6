"""``/healthz`` and request ids."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from cutout import health


@pytest.mark.django_db
def test_healthz_reports_every_dependency(client: Client) -> None:
    response = client.get("/healthz")
    body = response.json()
    assert set(body["checks"]) == {"database", "storage", "broker", "models"}
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["storage"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    # Models are fetched by `make test` before the suite runs, so all must be present.
    assert body["checks"]["models"]["ok"] is True, body["checks"]["models"]
    assert response.status_code == 200
    assert body["status"] == "ok"


@pytest.mark.django_db
def test_healthz_is_503_when_a_dependency_fails(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> dict[str, object]:
        raise OSError("disk full")

    monkeypatch.setitem(health.CHECKS, "storage", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["storage"] == {
        "ok": False,
        "error": "OSError: disk full",
        "ms": body["checks"]["storage"]["ms"],
    }


@pytest.mark.django_db
def test_every_response_carries_a_request_id(client: Client) -> None:
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/no-such-page")["X-Request-ID"]
    assert len(first) == 32 and len(second) == 32 and first != second


@pytest.mark.django_db
def test_a_valid_incoming_request_id_is_kept_and_logged(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="cutout.request"):
        response = client.get("/healthz", headers={"X-Request-ID": "abc-123-def-456"})
    assert response["X-Request-ID"] == "abc-123-def-456"
    records = [r for r in caplog.records if r.name == "cutout.request"]
    assert records and records[-1].request_id == "abc-123-def-456"  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_a_malformed_incoming_request_id_is_replaced(client: Client) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert response["X-Request-ID"] != "bad id\nwith newline"
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_request_log_shows_the_route_not_secret_tokens(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    from django.urls import reverse

    url = reverse("invitation_accept", args=["SECRET-TOKEN-abc123"])
    with caplog.at_level(logging.INFO, logger="cutout.request"):
        client.get(url)
    lines = [r.getMessage() for r in caplog.records if r.name == "cutout.request"]
    assert lines, "the request was not logged"
    assert "SECRET-TOKEN-abc123" not in lines[-1]
    assert "<" in lines[-1]  # the URL pattern, e.g. /invitations/<str:token>/
