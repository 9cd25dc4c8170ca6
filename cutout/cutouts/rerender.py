"""Rendering a finished cutout again in other options, from its stored matte: no model run and
no credit. A version asked for twice is made once. The same result in another file format is not
a version: it is a file kept next to the result (:func:`cutout_format_file`).

Backgrounds are versions too: a colour, a picture (``background=`` bytes; ``options.bg_image``
is set to its sha256) or the photo's own background blurred (``bg_blur``). The blur needs the
photo's background, which only the original holds: for a workspace that does not keep originals
it is refused (``InvalidOption`` on ``bg_blur``), since the stored matte file keeps no background
pixel on purpose.
"""

from __future__ import annotations

import posixpath
import time
from typing import TYPE_CHECKING, Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from cutout import engine
from cutout.cutouts import selectors
from cutout.cutouts.engine_settings import engine_limits
from cutout.cutouts.records import (
    background_store,
    refuse_paid_from_free,
    stored_backdrop,
    with_background,
)
from cutout.cutouts.services import cutout_fail_with, dedup_key_for, result_metadata, save_file
from cutout.engine.encode import EXTENSIONS  # the engine's one table of file extensions
from cutout.models import Cutout

if TYPE_CHECKING:
    from accounts.models import User


def cutout_root(cutout: Cutout) -> Cutout:
    """The cutout a re-render was made from (itself when it was made from an upload)."""
    parent_id = (cutout.metadata or {}).get("rerender_of")
    if not parent_id:
        return cutout
    parent = selectors.cutout_get(workspace=cutout.workspace, cutout_id=parent_id)
    return parent if parent is not None and parent.matte else cutout


def _with_hints(options: dict[str, Any], source: Cutout) -> dict[str, Any]:
    """What a version's dedup key covers: its options and, for a refined source, its hints (a
    re-render of a refined matte is not one of the automatic matte)."""
    return {**options, "hints": source.hints} if source.hints else options


def cutout_version(
    *,
    source: Cutout,
    options: engine.Options,
    user: User | None = None,
    background: bytes | None = None,
) -> Cutout:
    """A free version of ``source`` in ``options`` (on ``background``, a picture's bytes, if
    given); an identical version already made is reused."""
    options = with_background(options, background)
    wanted = engine.options_as_dict(options)
    wanted["pipeline"] = source.options.get("pipeline", source.pipeline)
    key = dedup_key_for(source.input_sha256, _with_hints(wanted, source))
    existing = (
        selectors.cutouts_for_workspace(source.workspace)
        .filter(dedup_key=key, status=Cutout.Status.SUCCEEDED)
        .exclude(result="")
        .order_by("-created_at")
        .first()
    )
    if existing is not None:
        return existing
    return cutout_rerender(cutout=source, options=options, user=user, background=background)


def cutout_rerender(
    *,
    cutout: Cutout,
    options: engine.Options,
    user: User | None = None,
    background: bytes | None = None,
) -> Cutout:
    """A new cutout from ``cutout``'s stored matte in other options: no model run, no credit.

    The pipeline cannot change (that would need the model); ``options.pipeline`` is ignored.
    """
    if cutout.status != Cutout.Status.SUCCEEDED or not cutout.matte:
        raise engine.InvalidOption("Only a finished cutout can be rendered again.", field="cutout")
    options = with_background(options, background)
    refuse_paid_from_free(cutout, options)
    if options.has_bg_blur and not cutout.original:
        raise engine.InvalidOption(
            "This cutout's original was not kept, so its background cannot be blurred: upload "
            "the photo again with bg_blur (or turn on keeping originals for the workspace).",
            field="bg_blur",
        )
    backdrop = engine.decode_background(background, engine_limits()) if background else None
    with cutout.matte.open("rb") as handle:
        matte_bytes = handle.read()
    matte = engine.matte_from_png(matte_bytes)
    decoded = _rerender_source(cutout, matte_bytes)
    opts = engine.options_as_dict(options)
    opts["pipeline"] = cutout.options.get("pipeline", cutout.pipeline)
    new = Cutout.objects.create(
        workspace=cutout.workspace,
        created_by=user,
        api_key=None,
        source=cutout.source,
        dialect=cutout.dialect,
        options=opts,
        pipeline=cutout.pipeline,
        input_name=cutout.input_name,
        input_sha256=cutout.input_sha256,
        input_bytes=cutout.input_bytes,
        dedup_key=dedup_key_for(cutout.input_sha256, _with_hints(opts, cutout)),
        status=Cutout.Status.PROCESSING,
        width=cutout.width,
        height=cutout.height,
        started_at=timezone.now(),
        metadata={"rerender_of": str(cutout.pk)},
    )
    started = time.perf_counter()
    try:
        save_file(new.matte, "matte.png", matte_bytes)
        result = engine.render(decoded, matte, options, background=backdrop)
        save_file(new.result, f"result.{result.extension}", result.data)
        background_store(new, background)  # other formats of this version are rendered on it
        new.result_content_type = result.content_type
        new.result_width = result.width
        new.result_height = result.height
        new.metadata = {**result_metadata(result, matte), "rerender_of": str(cutout.pk)}
        new.status = Cutout.Status.SUCCEEDED
        new.credits_charged = 0
        new.finished_at = timezone.now()
        new.processing_ms = round((time.perf_counter() - started) * 1000)
        new.save()
    except BaseException as exc:
        cutout_fail_with(new, exc)
        raise
    return new


def _rerender_source(cutout: Cutout, matte_bytes: bytes) -> Any:
    """The colour to render from: the original when kept, else the stored foreground colour."""
    if cutout.original:
        with cutout.original.open("rb") as handle:
            return engine.decode_image(handle.read(), engine_limits())
    return engine.decoded_from_stored_matte(matte_bytes)


FORMAT_FILE_PREFIX = "format."  # cutout.files.retention keeps such files while their cutout lives


def format_options(options: dict[str, Any], fmt: str) -> engine.Options:
    """``options`` (a cutout's stored ones) with another output format, channels to suit it."""
    opts = {**options, "format": fmt}
    if fmt == "zip" or (fmt == "jpeg" and opts.get("channels") == "rgba"):
        opts["channels"] = None
    return engine.options_from_dict(opts)


def cutout_format_file(*, cutout: Cutout, fmt: str) -> str:
    """The storage name of ``cutout``'s result in the format ``fmt``: the result itself, or a
    file rendered once from the stored matte and kept next to it (no new version, no credit).

    A result on a background picture is rendered on the picture kept next to it.

    Raises :class:`engine.EngineError` when the format cannot hold the result (a mask in ZIP) or
    the background picture is no longer stored.
    """
    if fmt == (cutout.options or {}).get("format") or not cutout.result:
        return str(cutout.result.name)
    options = format_options(cutout.options or {}, fmt)
    folder = posixpath.dirname(str(cutout.result.name))
    name = f"{folder}/{FORMAT_FILE_PREFIX}{EXTENSIONS[options.format]}"
    if default_storage.exists(name):
        return name
    backdrop = stored_backdrop(cutout, options)
    with cutout.matte.open("rb") as handle:
        matte_bytes = handle.read()
    result = engine.render(
        _rerender_source(cutout, matte_bytes),
        engine.matte_from_png(matte_bytes),
        options,
        background=backdrop,
    )
    return str(default_storage.save(name, ContentFile(result.data)))
