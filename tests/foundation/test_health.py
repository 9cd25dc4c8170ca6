"""``/healthz`` and request ids."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

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
def test_request_log_shows_the_path_with_its_secrets_redacted(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    from django.urls import reverse

    url = reverse("invitation_accept", args=["SECRET-TOKEN-abc123"])
    with caplog.at_level(logging.INFO):
        client.get(url + "?api_key=KEY-123&page=2&X-Amz-Signature=SIG-456")
    lines = [r.getMessage() for r in caplog.records if r.name == "cutout.request"]
    assert lines, "the request was not logged"
    assert lines[-1].startswith(
        "GET /invitations/[redacted]/?api_key=[redacted]&page=2&X-Amz-Signature=[redacted] 404 "
    ), lines[-1]
    # Django's own line for the 404 is redacted the same way.
    django_lines = [r.getMessage() for r in caplog.records if r.name == "django.request"]
    assert (
        django_lines
        and "SECRET-TOKEN" not in django_lines[-1]
        and "KEY-123" not in django_lines[-1]
    )


@pytest.mark.django_db
def test_the_access_line_names_the_path_not_the_pattern(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="cutout.request"):
        client.get("/api/v1/account")
    record = [r for r in caplog.records if r.name == "cutout.request"][-1]
    assert record.getMessage().startswith("GET /api/v1/account 401 ")
    assert (record.path, record.status, record.method) == ("/api/v1/account", 401, "GET")  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_djangos_request_lines_carry_the_request_id(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/no-such-page", headers={"X-Request-ID": "rid-0123456789"})
    assert response.status_code == 404
    record = [r for r in caplog.records if r.name == "django.request"][-1]
    # The filter of the console handler, as LOGGING wires it.
    from cutout.logging import RequestIdFilter

    RequestIdFilter().filter(record)
    assert record.request_id == "rid-0123456789"  # type: ignore[attr-defined]


def test_json_lines_keep_extra_fields_and_leave_the_request_object_out() -> None:
    import json

    from cutout.logging import JsonFormatter, RequestIdFilter, request_id_var

    token = request_id_var.set("rid-json-1234")
    try:
        record = logging.LogRecord(
            "cutout.jobs", logging.INFO, __file__, 1, "job %s done", ("J1",), None
        )
        record.job = "J1"
        record.items = 3
        record.request = object()
        RequestIdFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "job J1 done"
    assert (line["level"], line["logger"], line["request_id"]) == (
        "INFO",
        "cutout.jobs",
        "rid-json-1234",
    )
    assert (line["job"], line["items"]) == ("J1", 3)
    assert "request" not in line and "time" in line


def test_the_settings_use_python_json_logger_for_json() -> None:
    from django.conf import settings
    from pythonjsonlogger.json import JsonFormatter

    from cutout.logging import JsonFormatter as Ours

    assert issubclass(Ours, JsonFormatter)
    assert settings.LOGGING["formatters"]["json"]["()"] == "cutout.logging.JsonFormatter"


@pytest.mark.django_db
def test_liveness_does_no_io(
    client: Client, monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any
) -> None:
    def refuse() -> dict[str, object]:
        raise AssertionError("liveness must not run a dependency check")

    for name in list(health.CHECKS):
        monkeypatch.setitem(health.CHECKS, name, refuse)
    with django_assert_num_queries(0):
        response = client.get("/livez")
    assert response.status_code == 200 and response.json()["status"] == "ok"


@pytest.mark.django_db
def test_readiness_is_healthz(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> dict[str, object]:
        raise ConnectionError("broker down")

    assert client.get("/readyz").status_code == 200
    monkeypatch.setitem(health.CHECKS, "broker", broken)
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 503


@pytest.mark.django_db
def test_the_storage_probe_writes_nothing(client: Client, backend: Any) -> None:
    """A load balancer's probe every few seconds must not write, read and delete objects."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from cutout.files.storage import storage_is_s3

    def everything() -> list[str]:
        if storage_is_s3():
            return sorted(o.key for o in default_storage.bucket.objects.all())  # type: ignore[attr-defined]
        root = Path(default_storage.location)  # type: ignore[attr-defined]
        return sorted(str(p) for p in root.rglob("*")) if root.exists() else []

    default_storage.save("ws/1/kept.txt", ContentFile(b"kept"))
    before = everything()
    for _ in range(3):
        body = client.get("/readyz").json()
        assert body["checks"]["storage"]["ok"] is True, body
    assert everything() == before and len(before) >= 1
    if backend.name == "s3":
        assert body["checks"]["storage"]["bucket"] == backend.env["CUTOUT_S3_BUCKET"]


@pytest.mark.django_db
def test_the_storage_probe_fails_on_a_missing_bucket(
    client: Client, s3_endpoint: str, settings: Any
) -> None:
    from tests.storages import s3_storage_settings

    made = s3_storage_settings(s3_endpoint, "no-such-bucket-here")["storages"]["default"]
    settings.STORAGES = {**settings.STORAGES, "default": made}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"]["ok"] is False
