"""The ZIP bomb through the real web server: ``python -m cutout.tools.harden_upload``.

Issue 17 measured the gunicorn worker's RSS while signed-in users uploaded a 1 MB ZIP of
50 x 20 MB of zeros on the web page. This does the same: it starts the site as ``make run``
does (``gunicorn -c python:cutout.gunicorn_conf``: one worker, four threads), signs in users
whose workspaces have 10 credits (refused with 402) or 60 (accepted: every entry unpacked into
storage), and posts the bomb to ``/app/upload`` as the page's script does, by 1 and by 4 users at
once. It prints the worker's RSS growth: peak (sampled every 5 ms) over what it was after a
warm-up request. A private SQLite database and data folder, loopback only.
"""

from __future__ import annotations

import json
import secrets
import string
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from cutout.tools.harden_bench import (
    ROOT,
    bomb_zip,
    child_pids,
    gunicorn_server,
    isolated_env,
    migrate,
    rss_bytes,
    timed_request,
)

SESSIONS = """
import django, json, sys
django.setup()
from django.conf import settings
from django.test import Client
from accounts.services import user_create
from billing.services import credits_grant
from accounts.models import Membership
out = []
for n, credits in enumerate(json.loads(sys.argv[1])):
    user = user_create(email=f"bomb{n}@example.com", password="x" * 12, verified=True)
    workspace = Membership.objects.get(user=user).workspace
    if credits:
        credits_grant(workspace=workspace, amount=credits, reason="bench",
                      idempotency_key=f"bench:{workspace.pk}")
    client = Client()
    client.force_login(user)
    out.append(client.cookies[settings.SESSION_COOKIE_NAME].value)
print(json.dumps({"cookie": settings.SESSION_COOKIE_NAME, "csrf": settings.CSRF_COOKIE_NAME,
                  "sessions": out}))
"""


def _sessions(env: dict[str, str], extra_credits: list[int]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", SESSIONS, json.dumps(extra_credits)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _upload(names: dict[str, Any], session: str, archive: bytes) -> bytes:
    token = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
    boundary = "bombboundary"
    fields = {"style": "transparent", "format": "png", "size": "full"}
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="bomb.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    )
    body = "".join(parts).encode() + archive + f"\r\n--{boundary}--\r\n".encode()
    head = (
        "POST /app/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
        f"Cookie: {names['cookie']}={session}; {names['csrf']}={token}\r\nX-CSRFToken: {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def attack(port: int, worker: int, requests: list[bytes]) -> dict[str, Any]:
    start = peak = rss_bytes(worker)
    running = True

    def sample() -> None:
        nonlocal peak
        while running:
            peak = max(peak, rss_bytes(worker))
            time.sleep(0.005)

    statuses: list[int] = []
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.perf_counter()
    threads = [
        threading.Thread(target=lambda r=r: statuses.append(timed_request(port, r, 600)[1]))
        for r in requests
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    running = False
    sampler.join()
    return {
        "uploads": len(requests),
        "statuses": sorted(set(statuses)),
        "seconds": round(time.perf_counter() - began, 2),
        "rss_start_mb": round(start / 2**20, 1),
        "rss_growth_mb": round((peak - start) / 2**20, 1),
    }


def main() -> list[dict[str, Any]]:
    archive = bomb_zip()
    plan = [(1, 0), (4, 0), (1, 50), (4, 50)]  # uploads at once, credits beyond the trial's 10
    results = []
    with tempfile.TemporaryDirectory(prefix="cutout-bomb-upload-") as tmp:
        env = isolated_env(Path(tmp)) | {"CUTOUT_TRIAL_CREDITS": "10"}
        migrate(env)
        names = _sessions(env, [extra for count, extra in plan for _ in range(count)])
        sessions = iter(names["sessions"])
        with gunicorn_server(env) as (port, pid):
            worker = child_pids(pid)[0]
            warm = _upload(names, names["sessions"][0], b"not a zip")  # loads the upload path
            timed_request(port, warm, 60)
            for count, extra in plan:
                requests = [_upload(names, next(sessions), archive) for _ in range(count)]
                result = attack(port, worker, requests) | {"credits": 10 + extra}
                results.append(result)
                print(
                    f"zipbomb via /app/upload: {count} at once, {10 + extra} credits each: "
                    f"status {result['statuses']} in {result['seconds']} s; worker RSS "
                    f"+{result['rss_growth_mb']} MB (from {result['rss_start_mb']} MB)",
                    flush=True,
                )
    return results


if __name__ == "__main__":
    main()
