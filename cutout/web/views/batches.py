"""Batches: the workspace's jobs, one job's page and the status its script polls, its ZIP."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_POST

from billing.selectors import balance_for
from cutout.jobs.selectors import job_items, job_progress, jobs_for_workspace
from cutout.jobs.services import job_resume
from cutout.models import Job, JobItem
from cutout.web.common import current_workspace, file_url, job_or_404, workspace_page
from cutout.web.forms import FORMAT_LABELS, style_of

PAGE_SIZE = 20


def _item_payload(item: JobItem) -> dict[str, Any]:
    cutout = item.cutout
    done = item.status == JobItem.Status.DONE and cutout is not None
    return {
        "id": str(item.pk),
        "position": item.position,
        "name": item.name,
        "status": item.status,
        "error_code": item.error_code,
        "error_message": item.error_message,
        "url": reverse("cutout_detail", args=[cutout.pk]) if done and cutout else None,
        "thumb_url": reverse("cutout_thumb", args=[cutout.pk]) if done and cutout else None,
    }


def batch_payload(job: Job) -> dict[str, Any]:
    """What the batch page shows and its script polls: status, counts and every item, and the
    workspace's credits (the page's header counter follows them)."""
    progress = job_progress(job)
    job.refresh_from_db(fields=["status", "result_zip", "finished_at"])
    closed = job.status in (Job.Status.DONE, Job.Status.FAILED)
    return {
        "status": job.status,
        **progress.as_dict(),
        "closed": closed,
        "credits_available": balance_for(job.workspace_id).available,
        "zip_url": reverse("batch_zip", args=[job.pk]) if job.result_zip else None,
        "items": [_item_payload(item) for item in job_items(job)],
    }


@workspace_page
@require_GET
def batches(request: HttpRequest) -> HttpResponse:
    qs = jobs_for_workspace(current_workspace(request))
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "cutout/batches.html", {"page": page})


@workspace_page
@require_GET
def batch_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    job = job_or_404(request, job_id)
    return render(
        request,
        "cutout/batch.html",
        {
            "job": job,
            "batch": batch_payload(job),
            "style": style_of(job.options or {}),
            "format_label": FORMAT_LABELS.get(str((job.options or {}).get("format")), ""),
        },
    )


@workspace_page
@require_GET
def batch_status(request: HttpRequest, job_id: str) -> JsonResponse:
    job = job_or_404(request, job_id)
    response = JsonResponse(batch_payload(job))
    patch_cache_control(response, no_store=True)
    return response


@workspace_page
@require_POST
def batch_resume(request: HttpRequest, job_id: str) -> HttpResponse:
    """Run the items waiting for credits, as many as the credits available now cover."""
    job = job_or_404(request, job_id)
    queued = job_resume(job_id=job.pk)
    if queued:
        messages.success(request, f"Resumed: {queued} image{'s' if queued != 1 else ''} queued.")
    else:
        messages.warning(request, "No credits are available yet: buy or move some first.")
    return redirect("batch_detail", job.pk)


@workspace_page
@require_GET
def batch_zip(request: HttpRequest, job_id: str) -> HttpResponse:
    job = job_or_404(request, job_id)
    if not job.result_zip:
        raise Http404("The ZIP is made when the batch has finished.")
    name = f"cutout-batch-{job.created_at:%Y%m%d-%H%M}.zip"
    return HttpResponseRedirect(file_url(request, job.result_zip, filename=name))
