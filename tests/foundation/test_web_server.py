"""The site under gunicorn as ``make run`` and the load benchmark start it (cutout.gunicorn_conf)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cutout.gunicorn_conf import gunicorn_command, intra_op_threads
from cutout.tools.processes import stop_groups

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUTOUT_ORT")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "cutout.settings",
            "CUTOUT_ENV": "dev",
            "CUTOUT_DATA_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "CUTOUT_WEB_PRELOAD": "fast",
        }
    )
    env.update(extra)
    return env


def _start(
    tmp_path: Path, port: int, command: list[str] | None = None, **extra: str
) -> tuple[subprocess.Popen[str], Path]:
    log = tmp_path / "server.log"
    proc = subprocess.Popen(
        command or gunicorn_command(bind=f"127.0.0.1:{port}", workers=1, threads=2),
        cwd=ROOT,
        env=_env(tmp_path, **extra),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return proc, log


def test_threads_follow_the_worker_count():
    assert intra_op_threads(1, cores=2) == 2
    assert intra_op_threads(2, cores=2) == 1
    assert intra_op_threads(4, cores=2) == 1
    assert intra_op_threads(2, cores=16) == 8


@pytest.mark.slow
def test_a_worker_loads_its_models_before_the_first_request(tmp_path):
    port = _free_port()
    proc, log = _start(tmp_path, port)
    try:
        deadline = time.monotonic() + 120
        while "models loaded" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.3)
        assert "models loaded (u2netp), 2 onnxruntime thread(s)" in log.read_text()
        body = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).json()
        assert body["checks"]["models"]["loaded"] == ["u2netp"]  # before any cutout was made
    finally:
        stop_groups([proc])


@pytest.mark.slow
def test_a_gpu_that_cannot_run_stops_the_server(tmp_path):
    proc, log = _start(tmp_path, _free_port(), CUTOUT_ORT_PROVIDERS="CUDAExecutionProvider")
    try:
        code = proc.wait(timeout=120)
    finally:
        stop_groups([proc])
    text = log.read_text()
    assert code != 0, text  # gunicorn halts when a worker fails to boot
    assert "CUDAExecutionProvider" in text and "onnxruntime-gpu" in text
    assert "Worker failed to boot" in text


@pytest.mark.slow
def test_cutout_serve_starts_its_workers_the_same_way(tmp_path):
    """The production entry point (``cutout serve``): each of two workers on this machine's
    cores loads its models at start, with its share of the onnxruntime threads."""
    port = _free_port()
    serve = [sys.executable, "-m", "cutout.cli", "serve", "--bind", f"127.0.0.1:{port}"]
    proc, log = _start(tmp_path, port, [*serve, "--workers", "2", "--threads", "1"])
    expected = f"models loaded (u2netp), {intra_op_threads(2)} onnxruntime thread(s)"
    try:
        deadline = time.monotonic() + 180
        while log.read_text().count(expected) < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.3)
        assert log.read_text().count(expected) == 2, log.read_text()
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200
    finally:
        stop_groups([proc])
