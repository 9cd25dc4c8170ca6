"""The service under load: ``python -m cutout.tools.load_bench`` (part of ``make bench``).

N concurrent API clients (default N = 1, 2, 4, 8) against real gunicorn servers on the loopback
interface, each client sending its share of distinct photo-like JPEGs to ``POST /api/v1/cutouts``
(synchronous, the default pipeline or ``--pipeline``, transparent PNG) one after the other. Set-ups
(:data:`SETUPS`), each on a fresh database and data folder of its own:

- ``run``: the site as ``make run`` starts it (the same gunicorn flags, :data:`cutout.gunicorn_conf`
  defaults: one worker, four request threads, models loaded when the worker starts);
- ``prod2``: two workers with one request thread each and one onnxruntime thread per worker, the
  shape of a 2-core production host (one model run per core, no oversubscription).

Per N it prints requests/s, p50 / p95 / p99 latency, the error rate, and the peak RSS of every
server process (sampled from /proc); at N = 1 also the HTTP overhead: a request's latency minus
the engine's own time for it (the matte and the render, from the response's ``timings_ms``)
over that engine time, i.e. authentication, the rate limit, the credit ledger, storage writes of
matte and result, and Django. Target <= 10 %.

Bounded: each N sends ``--requests`` per client (default 3), plus a warm-up; nothing leaves the
machine (servers bind 127.0.0.1 on a free port). The database is SQLite in the run's folder
unless ``--database-url`` names a scratch PostgreSQL database (migrated by the run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cutout.tools.processes import stop_groups

# Django and the project are imported inside functions on purpose: the servers and the set-up
# step are processes of their own with the environment each set-up chooses.
ROOT = Path(__file__).resolve().parents[2]
TARGET_OVERHEAD = 0.10


@dataclass(frozen=True)
class Setup:
    name: str
    workers: int
    threads: int
    intra_op_threads: int  # 0: the engine's default
    description: str


SETUPS = {
    "run": Setup("run", 1, 4, 0, "make run: gunicorn 1 worker x 4 threads"),
    "prod2": Setup("prod2", 2, 1, 1, "2 workers x 1 thread, 1 onnxruntime thread each"),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(data_dir: Path, setup: Setup, database_url: str, pipeline: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CUTOUT_S3_", "CELERY_")) and key != "DATABASE_URL"
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "cutout.settings",
            "CUTOUT_ENV": "dev",
            "CUTOUT_DATA_DIR": str(data_dir),
            "CUTOUT_API_RATE_LIMIT": "1000000",  # checked on every request, never reached
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    if pipeline:
        # The server's default pipeline, which is also what its workers load at start.
        env["CUTOUT_DEFAULT_PIPELINE"] = pipeline
    if setup.intra_op_threads:
        env["CUTOUT_INTRA_OP_THREADS"] = str(setup.intra_op_threads)
    return env


def _prepare() -> None:
    """(Subprocess) migrate, and make a workspace with credits and an API key; print the key."""
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.models import Workspace
    from accounts.services import api_key_create
    from billing.services import credits_grant

    call_command("migrate", verbosity=0, interactive=False)
    workspace = Workspace.objects.create(name="Load bench", slug=f"load-{uuid.uuid4().hex[:10]}")
    credits_grant(
        workspace=workspace, amount=100_000, reason="load bench", idempotency_key=workspace.slug
    )
    _key, secret = api_key_create(workspace=workspace, name="load bench")
    print(json.dumps({"key": secret}))


def _serve(setup: Setup, env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    from cutout.gunicorn_conf import gunicorn_command

    command = gunicorn_command(
        bind=f"127.0.0.1:{port}", workers=setup.workers, threads=setup.threads
    )
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _processes(master: int) -> list[int]:
    """The gunicorn master and its workers."""
    children = Path(f"/proc/{master}/task/{master}/children")
    try:
        return [master, *(int(pid) for pid in children.read_text().split())]
    except OSError:
        return [master]


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return 0.0


class RssSampler:
    """Peak RSS of every server process, sampled every 0.2 s in a thread."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self.peaks = {}
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in _processes(self.master):
                self.peaks[pid] = max(self.peaks.get(pid, 0.0), _rss_mb(pid))
            self._stop.wait(0.2)


def _wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path, workers: int) -> None:
    """Until the server answers and every worker has logged that its models are loaded."""
    import httpx

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited early; see {log}")
        try:
            httpx.get(f"{base}/healthz", timeout=5)
            text = log.read_text(errors="replace")
            if text.count("models loaded") >= workers:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server did not get ready within 300 s; see {log}")


_RUN_SEED = iter(range(1000, 10**9, 100))


def _images(count: int, width: int, height: int) -> list[bytes]:
    """``count`` JPEGs never sent before in this run (a repeated image would be served from
    dedup, for free)."""
    from cutout.tools.synthetic import distinct_photos

    return distinct_photos(count, width, height, seed=next(_RUN_SEED))


def _request(client: Any, key: str, data: bytes) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        response = client.post(
            "/api/v1/cutouts",
            headers={"Authorization": f"Bearer {key}"},
            files={"image": ("photo.jpg", data, "image/jpeg")},
        )
        latency = time.perf_counter() - started
        ok = response.status_code == 201
        engine_ms = _engine_ms(response.json()) if ok else None
        return {"ok": ok, "status": response.status_code, "s": latency, "engine_ms": engine_ms}
    except Exception as exc:  # a failed request is a figure of the run, not its end
        return {"ok": False, "status": type(exc).__name__, "s": time.perf_counter() - started}


def _engine_ms(body: dict[str, Any]) -> float:
    timings = (body.get("metadata") or {}).get("timings_ms") or {}
    stages = ("decode", "matte", "layout", "compose", "encode")
    return float(sum(timings.get(stage, 0.0) for stage in stages))


def _clients(base: str, key: str, images: list[bytes], clients: int) -> list[dict[str, Any]]:
    """``clients`` threads, each with its own connection, sending its share of ``images``."""
    import httpx

    shares = [images[n::clients] for n in range(clients)]

    def one_client(share: list[bytes]) -> list[dict[str, Any]]:
        with httpx.Client(base_url=base, timeout=300) as client:
            return [_request(client, key, data) for data in share]

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return [row for rows in pool.map(one_client, shares) for row in rows]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def _figures(rows: list[dict[str, Any]], elapsed: float) -> dict[str, Any]:
    latencies = [row["s"] * 1000 for row in rows]
    ok = [row for row in rows if row["ok"]]
    overheads = [
        (row["s"] * 1000 - row["engine_ms"]) / row["engine_ms"] for row in ok if row["engine_ms"]
    ]
    return {
        "requests": len(rows),
        "rps": len(rows) / elapsed if elapsed else 0.0,
        "p50_ms": _percentile(latencies, 50),
        "p95_ms": _percentile(latencies, 95),
        "p99_ms": _percentile(latencies, 99),
        "error_rate": 1 - len(ok) / len(rows) if rows else 0.0,
        "errors": sorted({str(row["status"]) for row in rows if not row["ok"]}),
        "engine_ms_median": statistics.median(r["engine_ms"] for r in ok) if ok else None,
        "overhead_median": statistics.median(overheads) if overheads else None,
    }


def _bench_setup(setup: Setup, args: argparse.Namespace, counts: list[int]) -> list[dict[str, Any]]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"cutout-load-{setup.name}-"))
    try:
        env = _env(data_dir, setup, args.database_url, args.pipeline)
        done = subprocess.run(
            [sys.executable, "-m", "cutout.tools.load_bench", "_prepare"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"set-up failed:\n{done.stderr[-3000:]}")
        key = json.loads(done.stdout.strip().splitlines()[-1])["key"]
        width, height = (int(part) for part in args.size.lower().split("x"))
        port, log = _free_port(), data_dir / "server.log"
        proc = _serve(setup, env, port, log)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(base, proc, log, setup.workers)
            warm = setup.workers * setup.threads
            _clients(base, key, _images(warm, width, height), warm)
            results = []
            for clients in counts:
                images = _images(clients * args.requests, width, height)
                load = os.getloadavg()[0]
                with RssSampler(proc.pid) as sampler:
                    started = time.perf_counter()
                    rows = _clients(base, key, images, clients)
                    elapsed = time.perf_counter() - started
                figures = _figures(rows, elapsed)
                rss = [round(sampler.peaks[pid]) for pid in sorted(sampler.peaks)]
                figures.update({"clients": clients, "rss_mb": rss, "load_before": load})
                results.append(figures)
                _print_row(setup, figures)
        finally:
            stop_groups([proc])
        return results
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def _print_row(setup: Setup, f: dict[str, Any]) -> None:
    errors = f"{f['error_rate']:.0%}" + (f" ({', '.join(f['errors'])})" if f["errors"] else "")
    rss = "/".join(str(value) for value in f["rss_mb"])
    extra = ""
    if f["clients"] == 1 and f["overhead_median"] is not None:
        extra = f"  overhead {f['overhead_median']:.1%} of engine {f['engine_ms_median']:.0f} ms"
    print(
        f"{setup.name:6s} {f['clients']:3d} {f['requests']:4d} {f['rps']:7.2f} "
        f"{f['p50_ms']:7.0f} {f['p95_ms']:7.0f} {f['p99_ms']:7.0f} {errors:>6s} {rss:>16s}"
        f" {f['load_before']:5.1f}{extra}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The API under N concurrent clients.")
    parser.add_argument("--clients", default="1,2,4,8", help="client counts (default 1,2,4,8)")
    parser.add_argument("--requests", type=int, default=3, help="requests per client per N")
    parser.add_argument("--size", default="1500x1000", help="image size WxH (default 1500x1000)")
    parser.add_argument("--setups", default=",".join(SETUPS), help=f"of {', '.join(SETUPS)}")
    parser.add_argument("--pipeline", default="", help="the servers' default pipeline (best)")
    parser.add_argument("--database-url", default="", help="a scratch PostgreSQL database")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep each run's folder (logs)")
    args = parser.parse_args(argv)
    counts = [int(part) for part in args.clients.split(",") if part.strip()]
    print(
        f"load bench: POST /api/v1/cutouts, {args.size} JPEG -> PNG, pipeline "
        f"{args.pipeline or 'default'}, {args.requests} requests per client, "
        f"{os.cpu_count()} CPU cores, database {'PostgreSQL' if args.database_url else 'SQLite'}"
    )
    for setup in SETUPS.values():
        print(f"  {setup.name}: {setup.description}")
    print("setup  N  reqs   req/s  p50 ms  p95 ms  p99 ms errors  RSS MB/process  load")
    figures: dict[str, Any] = {}
    verdicts = []
    for name in args.setups.split(","):
        setup = SETUPS[name.strip()]
        figures[setup.name] = _bench_setup(setup, args, counts)
        single = next((f for f in figures[setup.name] if f["clients"] == 1), None)
        if single and single["overhead_median"] is not None:
            share = single["overhead_median"]
            verdict = "ok" if share <= TARGET_OVERHEAD else "MISSED"
            verdicts.append(f"{setup.name} HTTP overhead {share:.1%} <= 10% {verdict}")
    if verdicts:
        print("targets: " + "; ".join(verdicts))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_prepare":
        _prepare()
    else:
        sys.exit(main())
