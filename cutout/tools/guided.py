"""Run the guided-cutouts referee against a server of this checkout: ``make guided``.

``python -m cutout.tools.guided [--port 8011] [--limit N] [--set DIR] [--out F.tsv]``:

1. makes (or reuses) the workspace "Guided referee" with enough credits for the dev set (one
   credit per image; refining is free) and a new API key for it;
2. starts the site as ``make run`` does (gunicorn, the embedded defaults, one worker with four
   threads) on ``--port``, with the API rate limit off for this server only;
3. runs ``../shared/evalsets/guided.py --base http://127.0.0.1:PORT --key KEY`` (niced), which
   uploads each image and drives ``POST /api/v1/cutouts/{id}/refine`` exactly as a client would;
4. stops the server. The referee's own output is the result (figures per image, then totals).

It measures with the default pipeline (``CUTOUT_DEFAULT_PIPELINE``, ``best``). The database is
the one the settings name (``DATABASE_URL``); run ``make migrate`` first.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REFEREE = REPO.parent / "shared" / "evalsets" / "guided.py"
WORKSPACE = "Guided referee"
CREDITS_NEEDED = 200  # the dev set's 155 uploads and a margin


def _key() -> str:
    """A fresh key of the referee's workspace, topped up to :data:`CREDITS_NEEDED` credits."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cutout.settings")
    django.setup()
    from accounts import services
    from accounts.models import User, Workspace
    from billing.selectors import balance_for
    from billing.services import credits_grant

    owner = User.objects.filter(email="guided-referee@cutout.local").first()
    if owner is None:
        owner = services.user_create(
            email="guided-referee@cutout.local", password=None, verified=True
        )
    workspace = Workspace.objects.filter(name=WORKSPACE, memberships__user=owner).first()
    if workspace is None:
        workspace = services.workspace_create(name=WORKSPACE, owner=owner)
    missing = CREDITS_NEEDED - balance_for(workspace).available
    if missing > 0:
        credits_grant(
            workspace=workspace,
            amount=missing,
            reason="guided referee run",
            idempotency_key=f"guided-referee:{workspace.pk}:{time.time_ns()}",
        )
    _key_row, secret = services.api_key_create(
        workspace=workspace, name=f"referee {time.strftime('%Y-%m-%d %H:%M')}", created_by=owner
    )
    return secret


def _wait_up(base: str, server: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server stopped before it answered")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=5):  # noqa: S310 - our server
                return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"the server did not answer on {base} within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--limit", type=int, default=0, help="only the first N images")
    parser.add_argument("--out", default="", help="per-image figures (TSV)")
    parser.add_argument("--set", default="", help="a folder with MANIFEST.tsv (default: dev)")
    args = parser.parse_args(argv)
    if not REFEREE.is_file():
        print(f"no referee at {REFEREE}", file=sys.stderr)
        return 2
    secret = _key()
    base = f"http://127.0.0.1:{args.port}"
    env = {**os.environ, "CUTOUT_API_RATE_LIMIT": "0"}
    gunicorn = [sys.executable, "-m", "gunicorn", "cutout.wsgi", "--bind", f"127.0.0.1:{args.port}"]
    server = subprocess.Popen(
        [*gunicorn, "--workers", "1", "--threads", "4", "--timeout", "300"], cwd=REPO, env=env
    )
    try:
        _wait_up(base, server)
        command = [
            "nice",
            "-n",
            "10",
            sys.executable,
            str(REFEREE),
            "--base",
            base,
            "--key",
            secret,
        ]
        if args.limit:
            command += ["--limit", str(args.limit)]
        if args.out:
            command += ["--out", args.out]
        if args.set:
            command += ["--set", args.set]
        return subprocess.run(command, check=False).returncode
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(main())
