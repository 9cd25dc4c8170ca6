"""Fixtures for jobs and storage: workspaces with credits, small distinct images, storages
(the local disk, or a fresh bucket on the S3 server), eager Celery, and real worker processes."""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image, ImageDraw

from accounts.models import Membership, Role, User, Workspace
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
S3_KEY = "cutout-test"
_counter = itertools.count(1)


# ---------------------------------------------------------------------------------------------
# People, workspaces, credits


def make_workspace(name: str = "Acme", **extra: Any) -> Workspace:
    n = next(_counter)
    slug = f"jobs-{n}-{uuid.uuid4().hex[:8]}"
    return Workspace.objects.create(name=f"{name} {n}", slug=slug, **extra)


def make_member(workspace: Workspace, role: str = Role.OWNER) -> User:
    n = next(_counter)
    user = User.objects.create_user(
        email=f"jobs{n}-{uuid.uuid4().hex[:6]}@example.com", password="correct horse battery"
    )
    Membership.objects.create(workspace=workspace, user=user, role=role)
    return user


def grant(workspace: Workspace, amount: int) -> None:
    from billing.services import credits_grant

    credits_grant(
        workspace=workspace,
        amount=amount,
        reason="test credits",
        idempotency_key=f"test-grant:{workspace.pk}:{uuid.uuid4().hex}",
    )


def balance(workspace: Workspace) -> tuple[int, int]:
    from billing.selectors import balance_for

    b = balance_for(workspace)
    return b.balance, b.reserved


# ---------------------------------------------------------------------------------------------
# Images


def photo(seed: int, size: tuple[int, int] = (96, 72), fmt: str = "PNG") -> bytes:
    """A small, distinct picture: a shaded round subject on a soft, noisy background."""
    rng = np.random.default_rng(seed)
    w, h = size
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    bg = (np.array([200, 210, 225]) * (1 - y) + np.array([150, 150, 140]) * y).repeat(w, axis=1)
    bg = bg + rng.normal(0, 4, bg.shape)
    image = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    colour = tuple(int(c) for c in rng.integers(20, 235, 3))
    draw.ellipse((w * 0.3, h * 0.2, w * 0.7, h * 0.9), fill=colour)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def photos(
    count: int, *, start: int = 0, size: tuple[int, int] = (96, 72)
) -> list[tuple[str, bytes]]:
    return [(f"photo-{i:02d}.png", photo(start + i, size)) for i in range(count)]


# ---------------------------------------------------------------------------------------------
# Storage backends: local disk (default) or a fresh bucket on the S3 server


def make_bucket(endpoint: str) -> str:
    import boto3

    bucket = f"cutout-jobs-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_KEY,
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    return bucket


def s3_storage_settings(endpoint: str, bucket: str) -> dict[str, Any]:
    from cutout import config

    env = {
        "CUTOUT_S3_BUCKET": bucket,
        "CUTOUT_S3_ENDPOINT_URL": endpoint,
        "CUTOUT_S3_ACCESS_KEY_ID": S3_KEY,
        "CUTOUT_S3_SECRET_ACCESS_KEY": S3_KEY,
        "CUTOUT_S3_REGION": "us-east-1",
    }
    return {"storages": config.storages(env, Path("/nonexistent")), "env": env}


class Backend:
    """Which storage a test runs on, and the environment a worker needs to use the same."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.env = env

    def __repr__(self) -> str:
        return self.name


@pytest.fixture(params=["filesystem", "s3"])
def backend(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> Iterator[Backend]:
    """Runs the test once on the local disk and once on a new bucket of the S3 server."""
    if request.param == "filesystem":
        yield Backend("filesystem", {})
        return
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = make_bucket(endpoint)
    made = s3_storage_settings(endpoint, bucket)
    # Django's setting_changed handler resets default_storage to the new backend.
    settings.STORAGES = {**settings.STORAGES, "default": made["storages"]["default"]}
    yield Backend("s3", made["env"])


# ---------------------------------------------------------------------------------------------
# Celery


@pytest.fixture
def eager() -> Iterator[None]:
    """Tasks run inline, in this process (queued from on_commit as in production)."""
    from cutout.celery import app

    # The app reads Django settings through the CELERY_ namespace, so overrides use those names.
    saved = app.conf.get("CELERY_TASK_ALWAYS_EAGER")
    app.conf.CELERY_TASK_ALWAYS_EAGER = True
    assert app.conf.task_always_eager and app.conf.task_eager_propagates
    yield
    app.conf.CELERY_TASK_ALWAYS_EAGER = bool(saved)


class Worker:
    """A real ``celery -A cutout worker`` process on its own queue, against the test database."""

    def __init__(self, env: dict[str, str], queue: str, log_dir: Path) -> None:
        self.env = env
        self.queue = queue
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, *, concurrency: int = 1, extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        n = len(self.procs) + 1
        log = open(self.log_dir / f"worker-{n}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [
                str(VENV_BIN / "celery"),
                "-A",
                "cutout",
                "worker",
                "-Q",
                self.queue,
                "-n",
                f"test{n}-{uuid.uuid4().hex[:6]}@%h",
                "--concurrency",
                str(concurrency),
                "--pool",
                "prefork",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env={**self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL reaches the pool children too
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker and its pool processes at once: no chance to ack or clean up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=20)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
            self.kill(proc)  # whatever is left of its process group (pool processes)

    def logs(self, tail: int = 0) -> str:
        """Every worker's log (the last ``tail`` characters of each, if given)."""
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}"
            for path in sorted(self.log_dir.glob("worker-*.log"))
        )


def database_url() -> str:
    from django.db import connection

    data = connection.settings_dict
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL) for worker tests")
    user = quote(str(data.get("USER") or ""), safe="")
    password = quote(str(data.get("PASSWORD") or ""), safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = data.get("HOST") or "127.0.0.1"
    port = data.get("PORT") or "5432"
    return f"postgresql://{auth}{host}:{port}/{quote(str(data['NAME']), safe='')}"


@pytest.fixture
def worker(redis_url: str, backend: Backend, tmp_path: Path, settings: Any) -> Iterator[Worker]:
    """Publish this test's tasks to Redis on a queue of its own, and start workers on it."""
    from cutout.celery import app

    queue = f"cutout-test-{uuid.uuid4().hex[:10]}"
    # The app reads Django settings through the CELERY_ namespace, so overrides use those names.
    keys = ("CELERY_BROKER_URL", "CELERY_BROKER_TRANSPORT_OPTIONS", "CELERY_TASK_ROUTES")
    saved = {key: app.conf.get(key) for key in keys}
    # Celery reads a CELERY_BROKER_URL environment variable before any configuration.
    saved_env = os.environ.pop("CELERY_BROKER_URL", None)
    app.conf.CELERY_BROKER_URL = redis_url
    app.conf.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 30}
    app.conf.CELERY_TASK_ROUTES = {"cutout.tasks.*": {"queue": queue}}
    _reset_connections(app)
    assert app.conf.broker_url == redis_url
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CUTOUT_S3_", "PYTEST", "CELERY_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.jobs.worker_settings",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": redis_url,
            "CELERY_VISIBILITY_TIMEOUT": "30",
            "CUTOUT_TEST_QUEUE": queue,
            "CUTOUT_DATA_DIR": str(tmp_path),
            "CUTOUT_WORKER_PRELOAD": "fast",
            "CUTOUT_INTRA_OP_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
            **backend.env,
        }
    )
    assert Path(settings.MEDIA_ROOT) == tmp_path / "media"
    logs = tmp_path / "logs"
    logs.mkdir()
    handle = Worker(env, queue, logs)
    try:
        yield handle
    finally:
        handle.stop_all()
        for key, value in saved.items():
            setattr(app.conf, key, value)
        if saved_env is not None:
            os.environ["CELERY_BROKER_URL"] = saved_env
        _reset_connections(app)
        _purge(redis_url, queue)


def _reset_connections(app: Any) -> None:
    # kombu keeps its connection and producer pools per broker URL; dropping our references is
    # enough for the app to look them up again for the new URL.
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
        amqp.flush_routes()
        amqp.router = amqp.Router()


def _purge(redis_url: str, queue: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(queue, f"_kombu.binding.{queue}")


def wait_for(
    check: Callable[[], bool], *, timeout: float, interval: float = 0.1, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
