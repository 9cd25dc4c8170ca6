"""Fixtures for jobs: real Celery worker processes on a queue of their own.

(People and credits come from :mod:`tests.factories`, pictures from :mod:`tests.images`, the
storage backends and eager Celery from ``tests/conftest.py``.)"""

from __future__ import annotations

import contextlib
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

import pytest

from tests.conftest import require
from tests.storages import Backend

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


# ---------------------------------------------------------------------------------------------
# Real worker processes


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
