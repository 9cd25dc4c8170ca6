"""Template context for every page: which nav item is current and the upload limits.

The limits are the server's own settings, rendered into the page so that the browser can refuse a
file that is too big or of the wrong type before uploading it (the server checks again anyway).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from cutout.jobs.intake import max_items

# What the engine decodes (see cutout.engine.decode); the browser checks type and extension.
ACCEPTED_TYPES = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/avif",
    "image/gif",
    "image/bmp",
    "image/tiff",
)
ACCEPTED_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".png",
    ".webp",
    ".avif",
    ".gif",
    ".bmp",
    ".tif",
    ".tiff",
)

NAV_SECTIONS = {
    "home": "home",
    "cutout_detail": "library",
    "library": "library",
    "batches": "batches",
    "batch_detail": "batches",
    "workspace_usage": "usage",
    "team": "team",
    "api_keys": "api_keys",
    "billing": "billing",
    "api_docs": "api_docs",
    "webhooks": "webhooks",
}


def max_batch_files() -> int:
    return min(int(settings.DATA_UPLOAD_MAX_NUMBER_FILES) - 1, max_items())


def upload_limits() -> dict[str, Any]:
    max_bytes = int(settings.CUTOUT_MAX_UPLOAD_BYTES)
    return {
        "max_bytes": max_bytes,
        "max_mb": round(max_bytes / (1024 * 1024), 1),
        "max_pixels": int(settings.CUTOUT_MAX_PIXELS),
        "max_megapixels": round(int(settings.CUTOUT_MAX_PIXELS) / 1_000_000, 1),
        "max_files": max_batch_files(),
        "types": ACCEPTED_TYPES,
        "extensions": ACCEPTED_EXTENSIONS,
        "accept": ",".join(ACCEPTED_TYPES + ACCEPTED_EXTENSIONS + (".zip",)),
    }


# Pages that make sense in any workspace: switching workspace there stays on the page.
SWITCH_STAYS = {
    "home",
    "library",
    "batches",
    "workspace_usage",
    "team",
    "api_keys",
    "billing",
    "webhooks",
}


def web(request: HttpRequest) -> dict[str, Any]:
    match = getattr(request, "resolver_match", None)
    name = (match.url_name if match else "") or ""
    return {
        "nav_section": NAV_SECTIONS.get(name, ""),
        "switch_next": request.path if name in SWITCH_STAYS else reverse("home"),
        "credits_low_at": int(settings.CUTOUT_LOW_BALANCE_THRESHOLD),
    }
