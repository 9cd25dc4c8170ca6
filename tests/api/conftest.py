"""API fixtures: a caller (an API key with credits, see tests.factories), the fast pipeline, a
live server and curl for the seeds' examples."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import Caller, make_caller


@pytest.fixture(autouse=True)
def _api_settings(settings: Any) -> None:
    settings.CUTOUT_DEFAULT_PIPELINE = "fast"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CUTOUT_API_RATE_LIMIT = 1000
    # A long window: counting tests never straddle a window boundary.
    settings.CUTOUT_API_RATE_WINDOW = 3600
    settings.CUTOUT_RATELIMIT_REDIS_URL = ""


@pytest.fixture
def caller(db: None) -> Caller:
    return make_caller()


@pytest.fixture
def broke(db: None) -> Caller:
    """A caller whose workspace has no credits."""
    return make_caller(credits=0)


@pytest.fixture
def live_caller(transactional_db: None) -> Caller:
    """A caller for tests that go through a live server (committed data)."""
    return make_caller()


@pytest.fixture
def host(live_server: Any) -> str:
    """The live test server's base URL: what replaces the seeds' hosts."""
    return str(live_server.url)


def curl(*args: str, output: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """Run curl as a seed's example does; returns (status, headers, body)."""
    import subprocess
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        headers_file = Path(tmp) / "headers"
        body_file = Path(output) if output else Path(tmp) / "body"
        cmd = ["curl", "-sS", "-D", str(headers_file), "-o", str(body_file), *args]
        done = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr.decode()
        lines = headers_file.read_text().strip().splitlines()
        # The last response's status line and headers (curl writes one block per response).
        start = max(i for i, line in enumerate(lines) if line.startswith("HTTP/"))
        status = int(lines[start].split()[1])
        headers = {}
        for line in lines[start + 1 :]:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        return status, headers, body_file.read_bytes()
