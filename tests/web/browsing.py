"""Helpers of the web app's browser tests: signed-in pages, measurements taken in the page.

The ``browser`` fixture is in ``tests/web/conftest.py``; these helpers take what it gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from accounts.middleware import SESSION_KEY as WORKSPACE_SESSION_KEY
from accounts.models import User, Workspace

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
NARROW = {"width": 360, "height": 740}


def session_for(user: User, workspace: Workspace | None = None) -> str:
    """A signed-in session for ``user`` (in ``workspace``), as logging in would make it."""
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    if workspace is not None:
        store[WORKSPACE_SESSION_KEY] = workspace.pk
    store.create()
    assert store.session_key
    return store.session_key


def signed_in(
    browser: Any,
    base: str,
    user: User,
    workspace: Workspace | None = None,
    *,
    viewport: dict[str, int] = DESKTOP,
    dialogs: str = "accept",
    **options: Any,
) -> Any:
    """A new browser context (with a page) signed in as ``user``; returns the page. Dialogs
    (confirmations) are accepted, or left to the test with ``dialogs=""``."""
    context = browser.new_context(viewport=viewport, **options)
    host = urlparse(base).hostname
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": session_for(user, workspace),
                "domain": host,
                "path": "/",
            }
        ]
    )
    page = context.new_page()
    if dialogs == "accept":
        page.on("dialog", lambda dialog: dialog.accept())
    return page


def scroll_width(page: Any) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def shot(page: Any, artifacts: Path, name: str, *, full: bool = True) -> None:
    page.screenshot(path=str(artifacts / f"web-{name}.png"), full_page=full)


# WCAG's contrast of an element's text against what is behind it (the first ancestor with an
# opaque background), computed by the page itself from the styles it applies.
CONTRAST_JS = """
(el) => {
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  let node = el, bg = null;
  while (node && node.nodeType === 1) {
    const c = parse(getComputedStyle(node).backgroundColor);
    if (c.length >= 3 && (c.length < 4 || c[3] > 0.9)) { bg = c; break; }
    node = node.parentElement;
  }
  bg = bg || [255, 255, 255];
  const fg = parse(getComputedStyle(el).color);
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return { ratio: (a + 0.05) / (b + 0.05), size: parseFloat(getComputedStyle(el).fontSize),
           text: el.textContent.trim() };
}
"""
