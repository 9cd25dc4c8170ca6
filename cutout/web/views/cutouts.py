"""One cutout's pages: the result, re-rendering it for free, downloads, its thumbnail, deleting."""

from __future__ import annotations

import posixpath
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_POST

from cutout import engine
from cutout.cutouts import selectors
from cutout.cutouts.refine import cutout_editable
from cutout.cutouts.rerender import cutout_format_file, cutout_root, cutout_version
from cutout.cutouts.thumbnails import cutout_thumbnail
from cutout.models import Cutout
from cutout.web.backgrounds import preset_bytes, presets
from cutout.web.common import (
    current_user,
    current_workspace,
    cutout_or_404,
    file_url,
    workspace_page,
)
from cutout.web.context_processors import ACCEPTED_EXTENSIONS, ACCEPTED_TYPES, upload_limits
from cutout.web.forms import (
    EXTENSIONS,
    FORMAT_LABELS,
    UPLOADED,
    RerenderForm,
    initial_from,
    style_of,
)
from cutout.web.problems import problem_for
from cutout.web.views.library import trash_with_undo, undo_minutes


def _download_name(cutout: Cutout, fmt: str) -> str:
    stem = posixpath.splitext(posixpath.basename(cutout.input_name or ""))[0] or "cutout"
    style = style_of(cutout.options or {})
    return f"{stem}-{style}.{EXTENSIONS.get(fmt, fmt)}"


def _formats_for(cutout: Cutout) -> list[str]:
    if (cutout.options or {}).get("mode") == "mask":
        return ["png", "jpeg", "webp", "avif"]
    return ["png", "jpeg", "webp", "avif", "zip"]


def _size_of(field: Any) -> int | None:
    try:
        return int(field.size)
    except Exception:  # a missing file shows no size rather than an error page
        return None


def before_frame(cutout: Cutout) -> str | None:
    """Where the original goes under a cropped result so that the two line up in the before/after
    view: CSS percentages of the result's box (None: no crop, the two already match; "" for a
    crop made before results recorded their canvas, which cannot be lined up)."""
    if not (cutout.options or {}).get("crop"):
        return None
    canvas = (cutout.metadata or {}).get("canvas")
    width, height = cutout.width, cutout.height
    if not canvas or not width or not height or not canvas.get("width") or not canvas.get("height"):
        return ""
    cw, ch = float(canvas["width"]), float(canvas["height"])
    return (
        f"left: {-100 * canvas['left'] / cw:.4f}%; top: {-100 * canvas['top'] / ch:.4f}%; "
        f"width: {100 * width / cw:.4f}%; height: {100 * height / ch:.4f}%"
    )


@workspace_page
@require_GET
def cutout_detail(request: HttpRequest, cutout_id: str) -> HttpResponse:
    cutout = cutout_or_404(request, cutout_id)
    root = cutout_root(cutout)
    options = cutout.options or {}
    fmt = str(options.get("format", "png"))
    shown = None
    if cutout.status == Cutout.Status.SUCCEEDED and cutout.result:
        # A ZIP result cannot be shown: show the stored RGBA foreground instead.
        shown = file_url(request, cutout.matte if fmt == "zip" else cutout.result)
    context = {
        "cutout": cutout,
        "root": root,
        "versions": selectors.cutout_versions(root),
        "style": style_of(options),
        "options": options,
        "format_label": FORMAT_LABELS.get(fmt, fmt.upper()),
        "result_url": shown,
        "original_url": file_url(request, root.original) if root.original else None,
        "before_frame": before_frame(cutout),
        "result_bytes": _size_of(cutout.result) if cutout.result else None,
        "downloads": [
            (f, FORMAT_LABELS[f], reverse("cutout_download", args=[cutout.pk, f]), f == fmt)
            for f in _formats_for(cutout)
        ]
        if shown
        else [],
        "form": RerenderForm(initial=initial_from(options), presets=presets()),
        "blur_off": not root.original,
        "limits": upload_limits(),
        "picture_accept": ",".join(ACCEPTED_TYPES + ACCEPTED_EXTENSIONS),
        "rerender_of": root if root.pk != cutout.pk else None,
        "undo_minutes": undo_minutes(),
        "editable": cutout_editable(cutout),
    }
    return render(request, "cutout/result.html", context)


BLUR_GONE = (
    "Could not blur the background: the original photo is no longer kept (its editing window "
    "is over), and the stored cutout keeps no background to blur. Nothing was charged."
)


def _background_of(form: RerenderForm) -> bytes:
    """The picture a re-render puts behind the subject: a preset's, or the user's file (checked
    against the upload limits here; decoded, with the pixel limit, by the re-render)."""
    choice = form.cleaned_data["bg_preset"]
    if choice != UPLOADED:
        return preset_bytes(choice)
    file = form.cleaned_data["bg_file"]
    if (file.size or 0) > int(settings.CUTOUT_MAX_UPLOAD_BYTES):
        raise engine.ImageTooLarge("The picture file is too large.")
    return bytes(file.read())


@workspace_page
@require_POST
def cutout_rerender(request: HttpRequest, cutout_id: str) -> HttpResponse:
    cutout = cutout_or_404(request, cutout_id)
    source = cutout_root(cutout)
    form = RerenderForm(request.POST, request.FILES, presets=presets())
    if not form.is_valid():
        first = next(iter(form.errors.values()))[0]
        messages.error(request, f"Could not re-render: {first}")
        return redirect("cutout_detail", cutout.pk)
    style = form.cleaned_data["style"]
    if style == "blur" and not source.original:
        messages.error(request, BLUR_GONE)
        return redirect("cutout_detail", cutout.pk)
    try:
        options = form.engine_options(pipeline=source.pipeline or None)
        background = _background_of(form) if style == "photo" else None
        new = cutout_version(
            source=source, options=options, user=current_user(request), background=background
        )
    except engine.EngineError as exc:
        text = problem_for(exc).message
        if "Nothing was charged" not in text:
            text += " Nothing was charged."
        lead = (
            "Could not use that background picture" if style == "photo" else "Could not re-render"
        )
        messages.error(request, f"{lead}: {text}")
        return redirect("cutout_detail", cutout.pk)
    messages.success(request, "Re-rendered from the stored matte. No credit was used.")
    return redirect("cutout_detail", new.pk)


@workspace_page
@require_GET
def cutout_download(request: HttpRequest, cutout_id: str, fmt: str) -> HttpResponse:
    """The result as a file: in its own format, or in another one rendered next to it (a format
    is not a new version of the cutout)."""
    cutout = cutout_or_404(request, cutout_id)
    if cutout.status != Cutout.Status.SUCCEEDED or not cutout.result:
        raise Http404("This cutout has no result.")
    if fmt not in _formats_for(cutout):
        raise Http404("Unknown format.")
    try:
        name = cutout_format_file(cutout=cutout, fmt=fmt)
    except engine.EngineError as exc:
        messages.error(request, f"Could not make a {FORMAT_LABELS[fmt]}: {exc.message}")
        return redirect("cutout_detail", cutout.pk)
    return HttpResponseRedirect(file_url(request, name, filename=_download_name(cutout, fmt)))


@workspace_page
@require_GET
def cutout_thumb(request: HttpRequest, cutout_id: str) -> HttpResponse:
    """A small WebP of the result (made once, kept next to it), served by a signed URL."""
    cutout = cutout_or_404(request, cutout_id)
    if cutout.status != Cutout.Status.SUCCEEDED or cutout.thumbnail_name is None:
        raise Http404("No result.")
    name = cutout_thumbnail(cutout=cutout)
    if name is None:
        raise Http404("No thumbnail.")
    response = HttpResponseRedirect(file_url(request, name))
    patch_cache_control(response, private=True, max_age=1800)
    return response


@workspace_page
@require_GET
def cutout_png(request: HttpRequest, cutout_id: str) -> HttpResponse:
    """The result as a PNG served by this site, for the copy button: the clipboard takes PNG,
    and a page cannot read a picture's pixels from the storage's own address."""
    cutout = cutout_or_404(request, cutout_id)
    if cutout.status != Cutout.Status.SUCCEEDED or not cutout.result:
        raise Http404("This cutout has no result.")
    try:
        name = cutout_format_file(cutout=cutout, fmt="png")
    except engine.EngineError as exc:
        raise Http404("No PNG of this result.") from exc
    with default_storage.open(name, "rb") as handle:
        response = HttpResponse(handle.read(), content_type="image/png")
    patch_cache_control(response, private=True, max_age=300)
    return response


@workspace_page
@require_POST
def cutout_delete(request: HttpRequest, cutout_id: str) -> HttpResponse:
    cutout = cutout_or_404(request, cutout_id)
    trash_with_undo(request, current_workspace(request), [cutout_root(cutout)])
    return redirect("library")
