"""``GET /metrics``: who may read it, and what it counts."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from cutout import scrape
from cutout.cutouts.services import cutout_create
from cutout.engine import EngineError, Options
from tests.factories import make_workspace
from tests.images import photo

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-token-0123456789abcdef"


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    ("remote", "headers", "allowed"),
    [
        ("127.0.0.1", {}, True),
        ("10.89.0.7", {}, True),  # the monitoring network (a compose network, say)
        ("8.8.8.8", {}, False),  # a public address
        ("203.0.113.9", {}, False),  # documentation range: not internal either
        ("::ffff:192.168.1.5", {}, True),  # an IPv4 private address on a dual-stack socket
        ("fd12:3456::7", {}, True),  # IPv6 unique local
        ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}, False),  # relayed by the public proxy
    ],
)
@pytest.mark.django_db
def test_without_a_token_only_internal_addresses_may_scrape(
    remote: str, headers: dict[str, str], allowed: bool
) -> None:
    response = Client(REMOTE_ADDR=remote).get("/metrics", headers=headers)
    assert response.status_code == (200 if allowed else 404)
    if allowed:
        assert response["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
def test_with_a_token_every_scrape_must_bring_it(settings: Any) -> None:
    settings.CUTOUT_METRICS_TOKEN = TOKEN
    client = Client(REMOTE_ADDR="127.0.0.1")
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    public = Client(REMOTE_ADDR="8.8.8.8")
    good = public.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert good.status_code == 200


@pytest.mark.django_db
def test_requests_are_timed_by_route_method_and_status(client: Client) -> None:
    labels = {"route": "api_account", "method": "GET", "status": "401"}
    before = _value("cutout_http_request_duration_seconds_count", **labels)
    client.get("/api/v1/account")
    client.get("/api/v1/account?x=1")
    assert _value("cutout_http_request_duration_seconds_count", **labels) == before + 2
    text = Client(REMOTE_ADDR="127.0.0.1").get("/metrics").content.decode()
    families = {family.name for family in text_string_to_metric_families(text)}
    assert {"cutout_http_request_duration_seconds", "cutout_queue_messages"} <= families


@pytest.mark.django_db
def test_cutouts_are_counted_by_pipeline_and_outcome_with_their_times() -> None:
    workspace = make_workspace(credits=3)
    ok = {"pipeline": "fast", "outcome": "succeeded"}
    before = {
        "ok": _value("cutout_cutouts_total", **ok),
        "rejected": _value("cutout_cutouts_total", pipeline="fast", outcome="rejected"),
        "dedup": _value("cutout_cutouts_total", pipeline="fast", outcome="deduplicated"),
        "inference": _value("cutout_inference_seconds_count", pipeline="fast"),
        "e2e": _value("cutout_cutout_seconds_sum", pipeline="fast"),
        "credits": _value("cutout_credits_charged_total"),
    }
    options = Options(pipeline="fast")
    cutout_create(workspace=workspace, data=photo(7), options=options)
    cutout_create(workspace=workspace, data=photo(7), options=options)  # the same again: dedup
    with pytest.raises(EngineError):
        cutout_create(workspace=workspace, data=b"not an image", options=options)
    assert _value("cutout_cutouts_total", **ok) == before["ok"] + 1
    assert (
        _value("cutout_cutouts_total", pipeline="fast", outcome="deduplicated")
        == before["dedup"] + 1
    )
    assert (
        _value("cutout_cutouts_total", pipeline="fast", outcome="rejected")
        == before["rejected"] + 1
    )
    assert _value("cutout_inference_seconds_count", pipeline="fast") == before["inference"] + 1
    assert _value("cutout_cutout_seconds_sum", pipeline="fast") > before["e2e"]
    assert _value("cutout_credits_charged_total") == before["credits"] + 1


def test_forked_processes_are_added_up(tmp_path: Path) -> None:
    """Multiprocess mode (gunicorn's and Celery's workers): two processes' counts, one scrape."""
    code = "from cutout import metrics; metrics.CUTOUTS.labels(pipeline='fast', outcome='failed').inc()"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=60)
    scrape = (
        "from cutout import metrics; import sys; from prometheus_client import generate_latest; "
        "sys.stdout.write(generate_latest(metrics.registry()).decode())"
    )
    out = subprocess.run(
        [sys.executable, "-c", scrape],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(out)
        for s in family.samples
    }
    assert samples[("cutout_cutouts_total", (("outcome", "failed"), ("pipeline", "fast")))] == 2


def test_the_queue_depth_is_read_from_the_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    from cutout import queue

    monkeypatch.setattr(queue, "queue_length", lambda: 7)
    text = scrape.exposition(with_queue=True).decode()
    assert "cutout_queue_messages 7.0" in text
    monkeypatch.setattr(queue, "queue_length", lambda: None)  # the broker does not answer
    text = scrape.exposition(with_queue=True).decode()
    assert "\ncutout_queue_messages " not in text and "# TYPE cutout_queue_messages gauge" in text


@pytest.mark.redis
def test_the_queue_length_of_a_redis_broker(redis_url: str) -> None:
    """On a queue of its own: the Redis transport keeps a queue in several lists (one per
    priority step), and other tests leave messages in the default queue's."""
    import secrets

    import redis

    from cutout.celery import app
    from cutout.queue import queue_length

    client = redis.Redis.from_url(redis_url)
    name = f"cutout-test-depth-{secrets.token_hex(4)}"
    # The app reads Django settings through the CELERY_ namespace: overrides use those names.
    keys = ("CELERY_BROKER_URL", "CELERY_TASK_DEFAULT_QUEUE")
    saved = {key: app.conf.get(key) for key in keys}
    app.conf["CELERY_BROKER_URL"], app.conf["CELERY_TASK_DEFAULT_QUEUE"] = redis_url, name
    assert (app.conf.broker_url, app.conf.task_default_queue) == (redis_url, name)
    try:
        assert queue_length() == 0  # never declared: nothing can be waiting
        client.lpush(name, b"{}", b"{}")  # two messages waiting (never delivered: removed below)
        assert queue_length() == 2
    finally:
        client.delete(*(client.keys(f"{name}*") or [name]))
        for key, value in saved.items():
            app.conf[key] = value


# ---------------------------------------------------------------------------------------------
# Sentry, on only with SENTRY_DSN


class _Collector:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                collector.bodies.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def collector() -> Iterator[_Collector]:
    made = _Collector()
    yield made
    made.server.shutdown()
    made.server.server_close()


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    keep = ("PATH", "HOME", "LANG", "CUTOUT_MODEL_DIR")
    full = {k: os.environ[k] for k in keep if k in os.environ} | env
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_sentry_reports_errors_when_a_dsn_is_set(collector: _Collector) -> None:
    code = (
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'cutout.settings'; django.setup();"
        "import logging, sentry_sdk; client = sentry_sdk.get_client();"
        "names = sorted(client.integrations); print(json.dumps(names));"
        "logging.getLogger('cutout.test').error('the sentry test error');"
        "sentry_sdk.flush(5)"
    ).replace("print(json", "import json; print(json")
    result = _python(code, SENTRY_DSN=f"http://public@127.0.0.1:{collector.port}/1")
    assert result.returncode == 0, result.stderr
    integrations = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"django", "celery"} <= set(integrations)
    assert any(b"the sentry test error" in body for body in collector.bodies), (
        collector.bodies[:1],
        result.stderr[-2000:],
    )


def test_without_a_dsn_sentry_is_never_imported() -> None:
    code = (
        "import os, sys, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'cutout.settings';"
        "django.setup(); print('sentry_sdk' in sys.modules)"
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
