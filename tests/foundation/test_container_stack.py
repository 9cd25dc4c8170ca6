"""The compose stack, started from the built images: web up and migrated, a batch through the API
processed by the two worker containers, the results on the S3 store (fetched from the host
through the public endpoint the links are signed for), readiness, liveness, metrics, /source.

``bash .ci/containers`` builds the images from Debian packages (no registry needed) and ``bash
.ci/containers --env`` prints ``CUTOUT_TEST_COMPOSE``, the compose command. .ci/run does both
before ``make test``, so CI always runs this module; elsewhere it is skipped until the images are
built (``make smoke`` builds them and runs only this module). One stack for the module, torn down
(volumes too) after.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from cutout.tools.stack_bench import Stack, compose_command, run_batch, stack_env, wait_ready
from tests.conftest import require

pytestmark = [pytest.mark.containers, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
# Another project name and ports let a second stack run beside one that is kept (SMOKE_PROJECT).
PROJECT = os.environ.get("SMOKE_PROJECT", "cutout-smoke")
PORT, S3_PORT = (
    int(os.environ.get("SMOKE_PORT", "18000")),
    int(os.environ.get("SMOKE_S3_PORT", "19000")),
)
BASE = f"http://127.0.0.1:{PORT}"
PHOTO = ROOT / "static" / "img" / "landing" / "before.jpg"
BATCH = 4


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    command = compose_command()
    require(
        bool(command)
        and shutil.which(command[0]) is not None
        and shutil.which("podman") is not None,
        "podman and a compose command with the stack's images built (bash .ci/containers)",
    )
    made = Stack(command, stack_env(port=PORT, s3_port=S3_PORT, workers=2), PROJECT)
    made.run("down", "-v", check=False)
    try:
        made.run("up", "-d", "--no-build", timeout=600)
        yield made
    finally:
        failed = made.run("ps", check=False)
        print(failed)
        made.run("down", "-v", check=False, timeout=300)


@pytest.fixture(scope="module")
def ready(stack: Stack) -> dict[str, Any]:
    return wait_ready(BASE)


@pytest.fixture(scope="module")
def api_key(stack: Stack, ready: dict[str, Any]) -> str:
    return stack.api_key("smoke@example.invalid")


@pytest.fixture(scope="module")
def batch(stack: Stack, api_key: str) -> dict[str, Any]:
    """One batch of BATCH photos, posted once, polled until it ends."""
    return run_batch(BASE, api_key, [PHOTO.read_bytes()] * BATCH, timeout=300)


def test_web_is_ready_on_postgresql_redis_and_s3(stack: Stack, ready: dict[str, Any]) -> None:
    checks = ready["checks"]
    assert checks["database"]["vendor"] == "postgresql"
    assert checks["broker"]["transport"] == "redis"
    assert checks["storage"]["backend"] == "S3Storage" and checks["storage"]["bucket"] == "cutout"
    assert checks["models"]["ok"] is True
    stack.exec("web", "cutout", "manage", "migrate", "--check")
    assert requests.get(f"{BASE}/livez", timeout=10).status_code == 200


def test_the_images_healthcheck_passes(stack: Stack, ready: dict[str, Any]) -> None:
    (web,) = stack.containers("web")
    result = subprocess.run(
        ["podman", "healthcheck", "run", web], env=stack.env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_two_workers_share_one_batch_and_the_results_are_on_s3(
    stack: Stack, batch: dict[str, Any]
) -> None:
    assert batch["status"] == "done", batch
    assert [item["cutout"]["status"] for item in batch["items"]] == ["succeeded"] * BATCH
    workers = stack.containers("worker")
    assert len(workers) == 2, workers
    handled = {
        w: len(re.findall(r"process_job_item\[[^\]]+\] succeeded", stack.logs(w))) for w in workers
    }
    assert sum(handled.values()) >= BATCH and all(handled.values()), handled
    # The link is signed for the public endpoint: the host fetches it, as a browser would.
    url = batch["items"][0]["cutout"]["result"]["url"]
    assert url.startswith(f"http://127.0.0.1:{S3_PORT}/cutout/"), url
    fetched = requests.get(url, timeout=30)
    assert fetched.status_code == 200, fetched.text[:300]
    image = Image.open(io.BytesIO(fetched.content))
    assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (960, 720))
    assert image.getchannel("A").getextrema() == (0, 255)


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    return [
        (dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def test_metrics_of_web_and_workers(stack: Stack, batch: dict[str, Any]) -> None:
    web = requests.get(f"{BASE}/metrics", timeout=10)
    assert web.status_code == 200, web.text[:300]  # from the host: an internal address
    posts = [
        value
        for labels, value in _samples(web.text, "cutout_http_request_duration_seconds_count")
        if labels == {"route": "api_cutouts", "method": "POST", "status": "202"}
    ]
    assert posts and posts[0] >= 1
    assert _samples(web.text, "cutout_queue_messages")
    counted = 0.0
    for worker in stack.containers("worker"):
        text = subprocess.run(
            [
                "podman",
                "exec",
                worker,
                "python",
                "-c",
                "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9100/metrics').read().decode())",
            ],
            env=stack.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        counted += sum(
            value
            for labels, value in _samples(text, "cutout_cutouts_total")
            # The batch is one photo four times: an item may reuse an earlier identical result.
            if labels["pipeline"] == "best" and labels["outcome"] in ("succeeded", "deduplicated")
        )
    assert counted == BATCH


def test_source_is_the_images_own_archive(stack: Stack, ready: dict[str, Any]) -> None:
    response = requests.get(f"{BASE}/source", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/gzip"
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
        names = set(archive.getnames())
    assert {"cutout/LICENSE", "cutout/Dockerfile", "cutout/cutout/settings.py"} <= names
    assert not any(name.startswith("cutout/.git/") for name in names)


def test_the_images_command_line_works_offline(stack: Stack, ready: dict[str, Any]) -> None:
    """``cutout remove`` in a container of the image, on its own copy of the landing photo."""
    photo = "/opt/cutout/static/img/landing/before.jpg"
    stack.exec("web", "cutout", "remove", photo, "-o", "/tmp/smoke.png", "--pipeline", "fast")
    size = stack.exec(
        "web",
        "python",
        "-c",
        "from PIL import Image; i = Image.open('/tmp/smoke.png'); print(i.mode, *i.size)",
    )
    assert size.splitlines()[-1] == "RGBA 960 720"


def test_readiness_after_the_batch(stack: Stack, batch: dict[str, Any]) -> None:
    assert requests.get(f"{BASE}/readyz", timeout=10).status_code == 200


def test_a_database_backup_restores_with_the_documented_commands(
    stack: Stack, batch: dict[str, Any]
) -> None:
    """docs/operations.md's pg_dump / pg_restore, rehearsed: the dump restored into a fresh
    database holds the same cutouts, ledger entries and balances as the live one."""
    compose = [*stack.command, "-p", stack.project]
    dumped = subprocess.run(
        [*compose, "exec", "-T", "postgres", "pg_dump", "-U", "cutout", "-Fc", "cutout"],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        timeout=120,
    )
    dump = dumped.stdout
    assert dumped.returncode == 0 and dump.startswith(b"PGDMP"), dumped.stderr[-2000:]
    stack.exec("postgres", "createdb", "-U", "cutout", "cutout_restored")
    restored = subprocess.run(
        [*compose, "exec", "-T", "postgres", "pg_restore", "-U", "cutout", "-d", "cutout_restored"],
        cwd=ROOT,
        env=stack.env,
        input=dump,
        capture_output=True,
        timeout=120,
    )
    assert restored.returncode == 0, restored.stderr[-2000:]
    facts = (
        "SELECT count(*) FROM cutout_cutout WHERE status = 'succeeded'",
        "SELECT count(*), coalesce(sum(amount), 0) FROM billing_ledgerentry",
        "SELECT string_agg(balance::text, ',' ORDER BY id) FROM billing_creditbalance",
    )
    for query in facts:
        live, copy = (
            stack.exec("postgres", "psql", "-U", "cutout", "-d", db, "-tAc", query)
            for db in ("cutout", "cutout_restored")
        )
        assert live == copy and live not in ("", "0"), (query, live, copy)
