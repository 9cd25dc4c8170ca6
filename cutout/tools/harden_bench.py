"""Hostile-load figures of docs/security.md: ``python -m cutout.tools.harden_bench [zipbomb|slowloris]``.

``zipbomb``: the issue's attack on batch intake (``cutout.tools.harden_upload`` runs it through
the real web server instead): a 1 MB ZIP of 50 x 20 MB of zeros sent through
:func:`cutout.jobs.services.job_create` as the web upload hands a ZIP to it, by a workspace
without the credits (refused with 402) and by one with them (accepted: every entry unpacked into
storage), once and by 4 threads at once (the web server's threads). Prints the process's RSS
growth (peak over start, sampled every 5 ms).

``slowloris``: starts the real web server (``gunicorn -c python:cutout.gunicorn_conf``) and
opens 50 connections that send one byte a second (25 in their headers, 25 in a declared body),
then times ``GET /healthz`` and one normal cutout (``POST /v1.0/removebg``, fast pipeline).
``--worker-class gthread`` runs the same against gunicorn's stock threaded worker for
comparison. Everything runs on loopback with a private SQLite database and data folder.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

# Django and the project are imported inside the functions on purpose: the environment (data
# folder, database) is chosen first and Django set up with it, as in the other benchmarks.
ROOT = Path(__file__).resolve().parents[2]
MB = 1000 * 1000  # the "20 MB" (each entry stays under the 20 MiB upload limit)


def isolated_env(data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL") and not key.startswith("CUTOUT_S3_")
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "cutout.settings",
            "CUTOUT_ENV": "dev",
            "CUTOUT_DATA_DIR": str(data_dir),
            "CUTOUT_DEFAULT_PIPELINE": "fast",
            "CUTOUT_API_RATE_LIMIT": "0",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def rss_bytes(pid: int) -> int:
    """A process's resident set size (Linux ``/proc``; no extra package)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (gunicorn's workers of its master)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


# ---------------------------------------------------------------------------------------------
# ZIP bomb


def bomb_zip(entries: int = 50, entry_bytes: int = 20 * MB) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for i in range(entries):
            with zf.open(f"photo-{i:02d}.jpg", "w") as entry:
                for _ in range(entry_bytes // MB):
                    entry.write(bytes(MB))
    return out.getvalue()


def _zipbomb_child(parallel: int, credits: int) -> dict[str, Any]:
    """Runs inside a process of its own (fresh RSS): ``parallel`` uploads of the bomb."""
    import django

    django.setup()
    from accounts.services import user_create, workspace_create
    from billing.services import credits_grant
    from cutout.jobs.services import job_create

    archive = bomb_zip()
    workspaces = []
    for n in range(parallel):
        owner = user_create(email=f"bench{n}-{time.time_ns()}@example.com", password="x" * 12)
        workspace = workspace_create(name=f"Bench {n}", owner=owner)
        if credits:
            credits_grant(
                workspace=workspace,
                amount=credits,
                reason="bench",
                idempotency_key=f"bench:{workspace.pk}",
            )
        workspaces.append(workspace)
    start = rss_bytes(os.getpid())
    peak = start
    running = True

    def sample() -> None:
        nonlocal peak
        while running:
            peak = max(peak, rss_bytes(os.getpid()))
            time.sleep(0.005)

    outcomes: list[str] = []

    def submit(workspace: Any) -> None:
        from django.db import connections

        try:
            job = job_create(workspace=workspace, zip_file=io.BytesIO(archive))
            outcomes.append(f"accepted ({job.items.count()} items)")
        except Exception as exc:
            outcomes.append(f"refused: {getattr(exc, 'code', type(exc).__name__)}")
        finally:
            connections.close_all()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.perf_counter()
    threads = [threading.Thread(target=submit, args=(w,)) for w in workspaces]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    running = False
    sampler.join()
    return {
        "zip_bytes": len(archive),
        "parallel": parallel,
        "credits": credits,
        "outcomes": sorted(set(outcomes)),
        "seconds": round(elapsed, 2),
        "rss_start_mb": round(start / 2**20, 1),
        "rss_growth_mb": round((peak - start) / 2**20, 1),
    }


def zipbomb() -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="cutout-zipbomb-") as tmp:
        env = isolated_env(Path(tmp))
        migrate(env)
        for credits in (10, 60):  # 10: refused with 402; 60: enough for the 50 entries
            for parallel in (1, 4):
                done = subprocess.run(
                    [sys.executable, "-m", "cutout.tools.harden_bench", "_zipbomb",
                     str(parallel), str(credits)],
                    cwd=ROOT, env=env, capture_output=True, text=True, check=True,
                )  # fmt: skip
                result = json.loads(done.stdout.strip().splitlines()[-1])
                results.append(result)
                print(
                    f"zipbomb: {parallel} upload(s) at once, {credits} credits each: "
                    f"{', '.join(result['outcomes'])} in {result['seconds']} s; "
                    f"RSS +{result['rss_growth_mb']} MB (from {result['rss_start_mb']} MB)",
                    flush=True,
                )
    return results


# ---------------------------------------------------------------------------------------------
# Slow clients


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _api_key(env: dict[str, str]) -> str:
    script = (
        "import django; django.setup()\n"
        "from accounts.services import user_create, workspace_create, api_key_create\n"
        "from billing.services import credits_grant\n"
        "u = user_create(email='slow@example.com', password='x' * 12)\n"
        "w = workspace_create(name='Slow', owner=u)\n"
        "credits_grant(workspace=w, amount=100, reason='bench', idempotency_key='bench')\n"
        "print(api_key_create(workspace=w, name='bench', created_by=u)[1])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def timed_request(port: int, raw: bytes, timeout: float) -> tuple[float, int]:
    """Seconds until the whole answer came, and its status (0: none within ``timeout``)."""
    began = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(raw)
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
            status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    except OSError:
        status = 0
    return time.perf_counter() - began, status


def _cutout_request(key: str, seed: int) -> bytes:
    from cutout.tools.synthetic import subject_scene, to_bytes

    rgb, _ = subject_scene(320, 240, seed=seed)
    image = to_bytes(rgb, "JPEG", quality=90)
    boundary = "benchboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image_file"; '
            'filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST /v1.0/removebg HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
LIVEZ = b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


class Dripper:
    """``count`` connections sending one byte a second: half in the headers, half in a body."""

    def __init__(self, port: int, count: int, interval: float = 1.0) -> None:
        self.interval = interval
        self.socks: list[tuple[socket.socket, bytes]] = []
        for n in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if n % 2:
                head = (
                    "POST /v1.0/removebg HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n"
                )
                sock.sendall(head.encode())
                self.socks.append((sock, b"x" * 100000))
            else:
                head = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
                self.socks.append((sock, head.encode() + b"y" * 5000))
        self.running = True
        self.closed_by_server = 0
        self.thread = threading.Thread(target=self._drip, daemon=True)
        self.thread.start()

    def _drip(self) -> None:
        offset = 0
        while self.running:
            for sock, payload in list(self.socks):
                try:
                    sock.send(payload[offset : offset + 1])
                except OSError:
                    self.socks.remove((sock, payload))
                    self.closed_by_server += 1
            offset += 1
            time.sleep(self.interval)

    def stop(self) -> None:
        self.running = False
        self.thread.join()
        for sock, _ in self.socks:
            sock.close()


class Served(NamedTuple):
    port: int
    pid: int  # gunicorn's master; its workers are its children


@contextlib.contextmanager
def gunicorn_server(env: dict[str, str], *args: str) -> Iterator[Served]:
    """The real web server (``gunicorn -c python:cutout.gunicorn_conf``) on a free loopback
    port, with extra gunicorn ``args``; yields its port and pid once ``/livez`` answers."""
    port = _free_port()
    cmd = [
        str(Path(sys.executable).with_name("gunicorn")),
        "-c", "python:cutout.gunicorn_conf", "cutout.wsgi",
        "--bind", f"127.0.0.1:{port}", "--access-logfile", "/dev/null", *args,
    ]  # fmt: skip
    log = env.get("CUTOUT_BENCH_SERVER_LOG")  # where the server's own log goes (default: nowhere)
    with open(log or os.devnull, "ab") as stderr:
        server = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=stderr)
    try:
        deadline = time.monotonic() + 60
        while timed_request(port, LIVEZ, 2)[1] == 0:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.3)
        yield Served(port, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)


def slowloris(worker_class: str, connections: int = 50, hold: float = 40.0) -> dict[str, Any]:
    args = [] if worker_class == "buffering" else ["--worker-class", worker_class]
    with tempfile.TemporaryDirectory(prefix="cutout-slowloris-") as tmp:
        env = isolated_env(Path(tmp))
        migrate(env)
        key = _api_key(env)
        with gunicorn_server(env, *args) as (port, _pid):
            timed_request(port, _cutout_request(key, 1), 60)  # loads the model once
            baseline = timed_request(port, HEALTHZ, 10)[0]
            dripper = Dripper(port, connections)
            time.sleep(3)  # every slow connection is now in the middle of its request
            healthz = [timed_request(port, HEALTHZ, 10) for _ in range(5)]
            cutout = timed_request(port, _cutout_request(key, 2), 20)
            time.sleep(max(0.0, hold - 3))
            late = timed_request(port, HEALTHZ, 10)
            dropped = dripper.closed_by_server
            dripper.stop()
    result = {
        "worker": worker_class,
        "slow_connections": connections,
        "healthz_idle_s": round(baseline, 3),
        "healthz_s_max": round(max(t for t, _ in healthz), 3),
        "healthz_statuses": sorted({s for _, s in healthz}),
        "cutout_s": round(cutout[0], 3),
        "cutout_status": cutout[1],
        "healthz_after_hold_s": round(late[0], 3),
        "slow_connections_dropped_by_server": dropped,
        "hold_s": hold,
    }
    print(
        f"slowloris ({worker_class}): {connections} slow connections; /healthz "
        f"{result['healthz_s_max']} s (status {result['healthz_statuses']}), cutout "
        f"{result['cutout_s']} s (status {cutout[1]}); after {hold:.0f} s the server had "
        f"dropped {dropped} of them",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", default="all", choices=["all", "zipbomb", "slowloris"])
    parser.add_argument("--worker-class", default="buffering", help="buffering (ours) or gthread")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--hold", type=float, default=40.0)
    args = parser.parse_args(argv)
    if args.what in ("all", "zipbomb"):
        zipbomb()
    if args.what in ("all", "slowloris"):
        slowloris(args.worker_class, args.connections, args.hold)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_zipbomb":
        print(json.dumps(_zipbomb_child(int(sys.argv[2]), int(sys.argv[3]))))
    else:
        main()
