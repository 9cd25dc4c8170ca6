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
from cutout.cutouts.services import cutout_create
from cutout.errors import meaning_of
from cutout.jobs.services import job_create
from cutout.models import Cutout, Source
from cutout.web.common import current_user, current_workspace, workspace_page
from cutout.web.context_processors import upload_limits
from cutout.web.forms import OptionsForm
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
            "problem": problem,
        },
        status=status,
    )


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
    form = OptionsForm(request.POST)
    problem: Problem | None = None
    if not files:
        problem = Problem(400, "no_file", "No image", "Choose an image to upload.")
    elif not form.is_valid():
        first = next(iter(form.errors.values()))[0]
        problem = Problem(400, "invalid_option", "Invalid option", str(first))
    if problem is None:
        one = len(files) == 1 and not _is_zip(files[0])
        try:
            options = form.engine_options()
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
    cutout = cutout_create(
        workspace=current_workspace(request),
        data=file.read(),
        options=options,
        user=current_user(request),
        source=Source.WEB,
        input_name=file.name or "",
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
