"""The compose stack, started from the built images: web up and migrated, a batch through the API
processed by the two worker containers, the results on the S3 store (fetched from the host
through the public endpoint the links are signed for), readiness, liveness, metrics, /source.

``make smoke`` runs it: ``bash .ci/containers`` builds the images from Debian packages (no
registry needed) and ``bash .ci/containers --env`` prints ``CUTOUT_TEST_COMPOSE``, the compose
command. The ``containers`` marker keeps it out of ``make test`` (the first build takes minutes
and the network). One stack for the module, torn down (volumes too) after.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from tests.conftest import require

pytestmark = [pytest.mark.containers, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "cutout-smoke"
PORT, S3_PORT = 18000, 19000
BASE = f"http://127.0.0.1:{PORT}"
PHOTO = ROOT / "static" / "img" / "landing" / "before.jpg"
BATCH = 4


class Stack:
    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.command, self.env = command, env

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        result = subprocess.run(
            [*self.command, "-p", PROJECT, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"compose {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def exec(self, service: str, *args: str) -> str:
        return self.run("exec", "-T", service, *args).strip()

    def containers(self, service: str) -> list[str]:
        out = subprocess.run(
            [
                "podman",
                "ps",
                "--filter",
                f"label=com.docker.compose.project={PROJECT}",
                "--filter",
                f"label=com.docker.compose.service={service}",
                "--format",
                "{{.Names}}",
            ],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return sorted(name for name in out.split() if name)

    def logs(self, container: str) -> str:
        result = subprocess.run(
            ["podman", "logs", container], env=self.env, capture_output=True, text=True
        )
        return result.stdout + result.stderr


def _wait_ready(timeout: float = 420) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = requests.get(f"{BASE}/readyz", timeout=10)
            if response.status_code == 200:
                return dict(response.json())
            last = f"{response.status_code} {response.text[:500]}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(2)
    raise AssertionError(f"/readyz never answered 200: {last}")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    command = shlex.split(os.environ.get("CUTOUT_TEST_COMPOSE", ""))
    require(
        bool(command)
        and shutil.which(command[0]) is not None
        and shutil.which("podman") is not None,
        "podman and a compose command with the stack's images built (bash .ci/containers)",
    )
    env = {
        **os.environ,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(18),
        "S3_SECRET_KEY": secrets.token_urlsafe(18),
        "CUTOUT_BIND": "127.0.0.1",
        "CUTOUT_PORT": str(PORT),
        "S3_PORT": str(S3_PORT),
        "CUTOUT_S3_PUBLIC_ENDPOINT_URL": f"http://127.0.0.1:{S3_PORT}",
        "CUTOUT_WORKERS": "2",
    }
    env.setdefault("CONTAINERS_CONF", str(ROOT / ".ci" / "containers.conf"))
    made = Stack(command, env)
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
    return _wait_ready()


@pytest.fixture(scope="module")
def api_key(stack: Stack, ready: dict[str, Any]) -> str:
    password = secrets.token_urlsafe(16)
    out = stack.exec(
        "web",
        "cutout",
        "manage",
        "create_user",
        "--email",
        "smoke@example.invalid",
        "--password",
        password,
    )
    slug = out.splitlines()[-1].strip()
    key = stack.exec(
        "web", "cutout", "manage", "create_api_key", "--workspace", slug, "--name", "smoke"
    )
    return key.splitlines()[-1].strip()


@pytest.fixture(scope="module")
def batch(stack: Stack, api_key: str) -> dict[str, Any]:
    """One batch of BATCH photos, posted once, polled until it ends."""
    data = PHOTO.read_bytes()
    files = [("image", (f"photo-{n}.jpg", data, "image/jpeg")) for n in range(BATCH)]
    response = requests.post(
        f"{BASE}/api/v1/cutouts?async=true", headers={"X-Api-Key": api_key}, files=files, timeout=60
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job = requests.get(
            f"{BASE}/api/v1/jobs/{job_id}", headers={"X-Api-Key": api_key}, timeout=30
        )
        body = dict(job.json())
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not finish: {body}")


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
            if labels == {"pipeline": "best", "outcome": "succeeded"}
        )
    assert counted >= BATCH


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
