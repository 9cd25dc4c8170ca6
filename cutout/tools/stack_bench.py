"""Batch throughput of the compose stack with 1 and 2 worker containers:
``python -m cutout.tools.stack_bench``.

It needs the images built (``bash .ci/containers``) and the compose command in
``$CUTOUT_TEST_COMPOSE`` (``eval "$(bash .ci/containers --env)"`` sets it). For each worker
count it starts the whole stack (web, N workers, beat, PostgreSQL, Redis, S3) under a project of
its own, makes an account and an API key inside the web container, warms every worker up with
one small batch, then posts one batch of distinct photo-like JPEGs through the API
(``?async=true``) and times it from the POST until the job is done. The stack is torn down,
volumes too, after each count. Prints images/s and the speed-up over 1 worker.

:class:`Stack` and :func:`wait_ready` are also what the smoke test
(tests/foundation/test_container_stack.py) drives the stack with.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from cutout.tools.synthetic import distinct_photos

ROOT = Path(__file__).resolve().parents[2]


class Stack:
    """One compose project: ``command`` is the compose command line, ``env`` its environment."""

    def __init__(self, command: list[str], env: Mapping[str, str], project: str) -> None:
        self.command, self.env, self.project = command, dict(env), project

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        result = subprocess.run(
            [*self.command, "-p", self.project, *args],
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
                f"label=com.docker.compose.project={self.project}",
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

    def api_key(self, email: str) -> str:
        """A new account (its personal workspace has the sign-up credits) and a key for it."""
        password = secrets.token_urlsafe(16)
        # "--password=...": a random password may start with "-", which argparse would take
        # for an option.
        out = self.exec(
            "web", "cutout", "manage", "create_user", f"--email={email}", f"--password={password}"
        )
        slug = out.splitlines()[-1].strip()
        key = self.exec(
            "web", "cutout", "manage", "create_api_key", "--workspace", slug, "--name", "stack"
        )
        return key.splitlines()[-1].strip()


def stack_env(*, port: int, s3_port: int, workers: int) -> dict[str, str]:
    """The environment a stack starts with: fresh secrets, loopback ports, ``workers`` workers."""
    env = {
        **os.environ,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(18),
        "S3_SECRET_KEY": secrets.token_urlsafe(18),
        "CUTOUT_BIND": "127.0.0.1",
        "CUTOUT_PORT": str(port),
        "S3_PORT": str(s3_port),
        "CUTOUT_S3_PUBLIC_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "CUTOUT_WORKERS": str(workers),
    }
    env.setdefault("CONTAINERS_CONF", str(ROOT / ".ci" / "containers.conf"))
    return env


def compose_command() -> list[str]:
    return shlex.split(os.environ.get("CUTOUT_TEST_COMPOSE", ""))


def wait_ready(base: str, timeout: float = 420) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{base}/readyz", timeout=10)
            if response.status_code == 200:
                return dict(response.json())
            last = f"{response.status_code} {response.text[:500]}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(2)
    raise AssertionError(f"/readyz never answered 200: {last}")


def run_batch(base: str, key: str, photos: list[bytes], *, timeout: float = 900) -> dict[str, Any]:
    """Post one async batch and poll it until it ends; the job's body gets ``seconds``."""
    files = [("image", (f"photo-{n}.jpg", data, "image/jpeg")) for n, data in enumerate(photos)]
    started = time.monotonic()
    response = httpx.post(
        f"{base}/api/v1/cutouts?async=true", headers={"X-Api-Key": key}, files=files, timeout=120
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    body: dict[str, Any] = {}
    while time.monotonic() - started < timeout:
        job = httpx.get(f"{base}/api/v1/jobs/{job_id}", headers={"X-Api-Key": key}, timeout=30)
        if job.status_code != 200:  # the key's rate limit: wait as told
            time.sleep(float(job.headers.get("Retry-After", "1")))
            continue
        body = dict(job.json())
        if body["status"] in ("done", "failed"):
            body["seconds"] = time.monotonic() - started
            return body
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not finish: {body}")


def measure(workers: int, photos: list[bytes], warmup: list[bytes], port: int) -> dict[str, Any]:
    stack = Stack(
        compose_command(),
        stack_env(port=port, s3_port=port + 1000, workers=workers),
        f"cutout-bench-{workers}",
    )
    base = f"http://127.0.0.1:{port}"
    stack.run("down", "-v", check=False)
    try:
        stack.run("up", "-d", "--no-build", timeout=600)
        wait_ready(base)
        key = stack.api_key(f"bench-{workers}@example.invalid")
        run_batch(base, key, warmup)
        job = run_batch(base, key, photos)
    finally:
        stack.run("down", "-v", check=False, timeout=300)
    statuses = [item["cutout"]["status"] for item in job["items"]]
    return {
        "workers": workers,
        "images": len(photos),
        "seconds": round(job["seconds"], 1),
        "images_per_s": round(len(photos) / job["seconds"], 3),
        "succeeded": statuses.count("succeeded"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=16, help="images per batch (default 16)")
    parser.add_argument("--size", default="1024x768", help="image size WxH (default 1024x768)")
    parser.add_argument("--workers", default="1,2", help="worker counts (default 1,2)")
    parser.add_argument("--port", type=int, default=18100, help="web port (S3: port + 1000)")
    parser.add_argument("--json", default="", help="also write the results to this file")
    args = parser.parse_args(argv)
    if not compose_command():
        print('set CUTOUT_TEST_COMPOSE first: eval "$(bash .ci/containers --env)"')
        return 2
    width, height = (int(part) for part in args.size.split("x"))
    counts = [int(part) for part in args.workers.split(",")]
    photos = distinct_photos(args.images, width, height)
    # Warm-up photos differ from the timed ones, so no timed item reuses a result.
    warmup = distinct_photos(2 * max(counts), width, height, seed=7)
    rows = []
    for workers in counts:
        row = measure(workers, photos, warmup, args.port)
        rows.append(row)
        speedup = row["images_per_s"] / rows[0]["images_per_s"]
        print(
            f"{workers} worker container(s): {row['images']} images in {row['seconds']} s, "
            f"{row['images_per_s']} images/s ({speedup:.2f}x), {row['succeeded']} succeeded",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
