"""Landing, home and upload: one image makes a cutout at once; several (or one ZIP) a batch.

The upload endpoint answers JSON to the page's script (``Accept: application/json``) and plain
pages otherwise, so uploading also works with JavaScript off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.decorators import wants_json
from accounts.models import Workspace
from cutout import engine
from cutout.cutouts import selectors
from cutout.cutouts.engine_settings import default_pipeline
from cutout.cutouts.services import cutout_create
from cutout.errors import meaning_of
from cutout.files.remote import fetch_image
from cutout.jobs.services import job_create
from cutout.models import Cutout, Source
from cutout.web.common import current_user, current_workspace, workspace_page
from cutout.web.context_processors import upload_limits
from cutout.web.forms import QUALITY_CHOICES, QUALITY_HINTS, OptionsForm
from cutout.web.problems import Problem, problem_for
from cutout.web.views.batches import batch_payload

logger = logging.getLogger(__name__)

RECENT = 8


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "landing.html", {"limits": upload_limits()})


def _recent(workspace: Workspace) -> QuerySet[Cutout]:
    return (
        selectors.originals(selectors.cutouts_for_workspace(workspace))
        .filter(status=Cutout.Status.SUCCEEDED)
        .order_by("-created_at")[:RECENT]
    )


@workspace_page
def home(request: HttpRequest) -> HttpResponse:
    return _home(request, OptionsForm())


def _home(
    request: HttpRequest, form: OptionsForm, problem: Problem | None = None, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "home.html",
        {
            "form": form,
            "limits": upload_limits(),
            "recent": _recent(current_workspace(request)),
            "qualities": _qualities(form),
            "problem": problem,
        },
        status=status,
    )


def _qualities(form: OptionsForm) -> list[dict[str, Any]]:
    """The quality choices of the upload form: name, label, what it is good for and how long
    it takes here (the median of recent cutouts), the chosen one and the server's default."""
    default = default_pipeline()
    chosen = form["quality"].value() or default
    seconds = selectors.pipeline_seconds()
    out = []
    for name, label in QUALITY_CHOICES:
        hint = QUALITY_HINTS[name]
        if name in seconds:
            took = seconds[name]
            hint = (
                f"about {took:.1f} s per image · {hint}"
                if took < 10
                else f"about {took:.0f} s per image · {hint}"
            )
        out.append(
            {
                "name": name,
                "label": label,
                "hint": hint,
                "checked": name == chosen,
                "default": name == default,
            }
        )
    return out


def _is_zip(upload: UploadedFile) -> bool:
    name = (upload.name or "").lower()
    return name.endswith(".zip") or upload.content_type in (
        "application/zip",
        "application/x-zip-compressed",
    )


@workspace_page
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    """One image makes a cutout at once; several (or one ZIP) make a batch."""
    files = request.FILES.getlist("image")
    url = (request.POST.get("url") or "").strip() if not files else ""
    form = OptionsForm(request.POST)
    problem: Problem | None = None
    if not files and not url:
        problem = Problem(
            400, "no_file", "No image", "Choose an image to upload, or paste an image URL."
        )
    elif not form.is_valid():
        first = next(iter(form.errors.values()))[0]
        problem = Problem(400, "invalid_option", "Invalid option", str(first))
    if problem is None:
        one = bool(url) or (len(files) == 1 and not _is_zip(files[0]))
        try:
            options = form.engine_options()
            if url:
                fetched = fetch_image(url, max_bytes=int(settings.CUTOUT_MAX_UPLOAD_BYTES))
                return _make_one(request, fetched.data, fetched.filename, options)
            if one:
                return _upload_one(request, files[0], options)
            return _upload_batch(
                request, files, options, partial=request.POST.get("partial") == "1"
            )
        except Exception as exc:
            if meaning_of(exc) is None:  # not one of ours: a bug or an outage
                logger.exception("web upload failed")
            problem = problem_for(exc, batch=not one)
    assert problem is not None
    if wants_json(request):
        return problem.response()
    return problem.apply(_home(request, form, problem, status=problem.status))


def _upload_one(request: HttpRequest, file: UploadedFile, options: engine.Options) -> HttpResponse:
    if (file.size or 0) > int(settings.CUTOUT_MAX_UPLOAD_BYTES):
        raise engine.ImageTooLarge("The file is too large.")
    return _make_one(request, file.read(), file.name or "", options)


def _make_one(
    request: HttpRequest, data: bytes, name: str, options: engine.Options
) -> HttpResponse:
    """One cutout from an upload, or from an image URL (fetched behind the SSRF guard, as the
    API fetches ``image_url``)."""
    cutout = cutout_create(
        workspace=current_workspace(request),
        data=data,
        options=options,
        user=current_user(request),
        source=Source.WEB,
        input_name=name,
    )
    url = reverse("cutout_detail", args=[cutout.pk])
    return _created(
        request,
        url,
        lambda: {
            "kind": "cutout",
            "id": str(cutout.pk),
            "status": cutout.status,
            "credits_charged": cutout.credits_charged,
        },
    )


def _upload_batch(
    request: HttpRequest, files: list[UploadedFile], options: engine.Options, *, partial: bool
) -> HttpResponse:
    # One file here is a ZIP of images (upload sends a single image to _upload_one).
    inputs: dict[str, Any] = {"zip_file": files[0]} if len(files) == 1 else {"files": files}
    job = job_create(
        workspace=current_workspace(request),
        options=options,
        user=current_user(request),
        source=Source.WEB,
        partial=partial,
        **inputs,
    )
    url = reverse("batch_detail", args=[job.pk])
    return _created(
        request,
        url,
        lambda: {
            "kind": "batch",
            "id": str(job.pk),
            "status_url": reverse("batch_status", args=[job.pk]),
            **batch_payload(job),
        },
    )


def _created(request: HttpRequest, url: str, payload: Callable[[], dict[str, Any]]) -> HttpResponse:
    """An upload's answer: a redirect to ``url`` for a form post, or 201 JSON for the page's
    script (``payload`` is only built then)."""
    if not wants_json(request):
        return redirect(url)
    return JsonResponse({**payload(), "url": url}, status=201)
