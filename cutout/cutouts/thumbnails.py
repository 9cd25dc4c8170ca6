"""The library's thumbnails: a small WebP of a result, made once and kept next to it.

(Pillow's own thumbnailing: a draft decode and one resize. Image maths of this size stays here
rather than in the engine, which has no business with storage or the library's page sizes.)
"""

from __future__ import annotations

import io
import logging

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from cutout.models import Cutout

logger = logging.getLogger(__name__)

THUMB_SIDE = 360


def _thumb_bytes(cutout: Cutout) -> bytes:
    fmt = (cutout.options or {}).get("format")
    source = cutout.matte if fmt == "zip" else cutout.result
    with source.open("rb") as handle:
        image: Image.Image = Image.open(io.BytesIO(handle.read()))
        image.draft("RGB", (THUMB_SIDE * 2, THUMB_SIDE * 2))
        image.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
        if image.mode not in ("RGB", "RGBA", "L"):
            image = image.convert("RGBA")
        out = io.BytesIO()
        image.save(out, "WEBP", quality=82, method=4)
    return out.getvalue()


def cutout_thumbnail(*, cutout: Cutout) -> str | None:
    """The storage name of ``cutout``'s thumbnail, made now if need be; None when there is none
    (no result, or a result that cannot be read as an image)."""
    name = cutout.thumbnail_name
    if cutout.status != Cutout.Status.SUCCEEDED or name is None:
        return None
    if default_storage.exists(name):
        return name
    try:
        return default_storage.save(name, ContentFile(_thumb_bytes(cutout)))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        logger.warning("no thumbnail for cutout %s: %s", cutout.pk, type(exc).__name__)
        return None
