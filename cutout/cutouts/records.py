"""Small helpers every way of making a cutout's record shares (uploads, re-renders, refines)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import posixpath
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from cutout import engine
from cutout.cutouts.engine_settings import engine_limits
from cutout.models import Cutout, CutoutVersion


def dedup_key_for(input_sha256: str, options: dict[str, Any]) -> str:
    canonical = json.dumps(options, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{input_sha256}:{canonical}".encode()).hexdigest()


def result_metadata(result: Any, matte: Any) -> dict[str, Any]:
    """What is stored about a render: the engine's metadata, the matte's scores and models."""
    meta = dict(getattr(result, "metadata", {}) or {})
    meta.setdefault("confidence", getattr(matte, "confidence", None))
    meta.setdefault("coverage", getattr(matte, "coverage", None))
    meta["pipeline"] = getattr(matte, "pipeline", "")
    meta["models"] = list(getattr(matte, "models", ()))
    return json.loads(json.dumps(meta, default=_jsonable))


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


def save_file(field: Any, name: str, data: bytes) -> None:
    field.save(name, ContentFile(data), save=False)


def stored_names(cutouts: list[Cutout]) -> list[str]:
    """Every storage name the cutouts hold: their files, their versions' and thumbnails."""
    names: list[str] = []
    for cutout in cutouts:
        for field in (cutout.original, cutout.matte, cutout.result, cutout.prior):
            if field and field.name:
                names.append(str(field.name))
        if cutout.thumbnail_name:
            names.append(cutout.thumbnail_name)
        background = background_name(cutout)
        if background:
            names.append(background)
    versions = CutoutVersion.objects.filter(cutout__in=[c.pk for c in cutouts])
    for matte, result in versions.values_list("matte", "result"):
        names.extend(name for name in (matte, result) if name)
    return list(dict.fromkeys(names))


# The background picture a cutout was rendered on, kept next to its result for as long as the
# cutout lives (cutout.files.retention keeps it; other formats of the result are rendered on it).
BACKGROUND_FILE = "background.bin"


def background_name(cutout: Cutout) -> str | None:
    """Where ``cutout``'s background picture is stored (None without a result or a picture)."""
    if not cutout.result or not (cutout.options or {}).get("bg_image"):
        return None
    return f"{posixpath.dirname(str(cutout.result.name))}/{BACKGROUND_FILE}"


def background_store(cutout: Cutout, data: bytes | None) -> None:
    """Keep ``data``, the picture ``cutout`` was rendered on, next to its result."""
    name = background_name(cutout)
    if data is None or name is None:
        return
    if default_storage.exists(name):
        default_storage.delete(name)
    default_storage.save(name, ContentFile(data))


def background_bytes(cutout: Cutout) -> bytes | None:
    """The picture ``cutout`` was rendered on, as stored (None: none, or no longer readable)."""
    name = background_name(cutout)
    if name is None:
        return None
    try:
        with default_storage.open(name, "rb") as handle:
            return bytes(handle.read())
    except Exception:  # a missing object: local disk and S3 raise differently
        return None


def stored_backdrop(cutout: Cutout, options: engine.Options) -> engine.DecodedImage | None:
    """The picture ``options`` put behind the subject, decoded from the copy kept with
    ``cutout`` (None when they name none): what its other formats and its refinements are
    rendered on. Raises :class:`engine.InvalidOption` when that copy is gone."""
    if options.bg_image is None:
        return None
    picture = background_bytes(cutout)
    if picture is None or options.bg_image != (cutout.options or {}).get("bg_image"):
        raise engine.InvalidOption(
            "The background picture of this cutout is no longer stored: download it in its own "
            "format, or render it again on the picture.",
            field="bg_image",
        )
    return engine.decode_background(picture, engine_limits())


def credits_for(options: engine.Options) -> int:
    """What one cutout in ``options`` costs: 0 for a preview (an output of at most 0.25 MP
    whatever the input; remove.bg and Photoroom charge a quarter credit for theirs, which an
    integer ledger cannot hold) or a watermarked test result, 1 for everything else."""
    return 0 if options.is_preview or options.watermark else 1


def with_background(options: engine.Options, background: bytes | None) -> engine.Options:
    """``options`` naming ``background`` by its sha256 (so requests on other pictures differ)."""
    if background is None:
        if options.bg_image is not None:
            raise engine.InvalidOption(
                "bg_image names a background picture, but none was sent", field="bg_image"
            )
        return options
    digest = hashlib.sha256(background).hexdigest()
    return dataclasses.replace(options, bg_image=f"sha256:{digest}")


def refuse_paid_from_free(cutout: Cutout, options: engine.Options) -> None:
    """A free cutout (a preview, a watermarked test) has only free versions and refinements:
    otherwise a full, unmarked result would come out of its stored matte for nothing. (A version
    of a free cutout is free itself, so its own options tell.)"""
    try:
        made_free = credits_for(engine.options_from_dict(cutout.options or {})) == 0
    except engine.EngineError:
        made_free = False
    if made_free and credits_for(options) > 0:
        raise engine.InvalidOption(
            "This cutout was a free preview or test, so its versions are too: upload the photo "
            "again at full size (one credit) for other sizes or without the watermark.",
            field="size",
        )
