"""Shared settings for the tests that drive Debian's Chromium through Playwright."""

from __future__ import annotations

# Headless in a container as root, with nothing fetched behind the page's back (the pages are
# checked for external requests, so Chromium's own background traffic must stay off).
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]
