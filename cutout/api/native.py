"""Cutout's own API, ``/api/v1/...``: the clean, documented one (see :mod:`cutout.api.openapi`).

Auth: ``Authorization: Bearer <key>`` or ``X-Api-Key``. Errors:
``{"error": {"code", "message", "field"?, "request_id"}}`` with a meaningful status.
``Idempotency-Key`` on ``POST /api/v1/cutouts`` makes retries safe: the same key and input return
the same cutout (``Idempotent-Replayed: true``) and charge once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.datastructures import MultiValueDict

from billing.selectors import balance_for
from billing.services import api_key_month_usage
from cutout import engine
from cutout.api import common
from cutout.api.errors import ApiError
from cutout.cutouts import refine, selectors
from cutout.cutouts.engine_settings import default_pipeline
from cutout.cutouts.refine import cutout_editable
from cutout.files import storage
from cutout.jobs.selectors import job_get, job_items, job_progress
from cutout.jobs.services import job_create
from cutout.logging import current_request_id
from cutout.models import Cutout, Job, Source

URL_VALIDITY = timedelta(hours=24)


class Native(common.Dialect):
    name = "native"
    auth_headers = ("X-Api-Key",)

    def error_response(self, request: HttpRequest, error: ApiError) -> HttpResponse:
        body: dict[str, Any] = {"code": error.kind, "message": error.message}
        if error.field:
            body["field"] = error.field
        body["request_id"] = current_request_id()
        return JsonResponse({"error": body}, status=error.status)


DIALECT = Native()


# ---------------------------------------------------------------------------------------------
# Representations


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _base_url(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def cutout_json(cutout: Cutout, request: HttpRequest) -> dict[str, Any]:
    result = None
    if cutout.status == Cutout.Status.SUCCEEDED and cutout.result:
        ext = str(cutout.result.name).rsplit(".", 1)[-1]
        result = {
            "url": storage.signed_url_for(
                cutout.result,
                workspace=cutout.workspace,
                expires=URL_VALIDITY,
                base_url=_base_url(request),
            ),
            "download_url": storage.signed_url_for(
                cutout.result,
                workspace=cutout.workspace,
                expires=URL_VALIDITY,
                filename=f"cutout-{str(cutout.pk)[:8]}.{ext}",
                base_url=_base_url(request),
            ),
            "expires_in": int(URL_VALIDITY.total_seconds()),
            "content_type": cutout.result_content_type,
            "width": cutout.result_width,
            "height": cutout.result_height,
        }
    error = None
    if cutout.status == Cutout.Status.FAILED:
        error = {"code": cutout.error_code, "message": cutout.error_message}
    original = None
    editable = cutout_editable(cutout)
    if cutout.original and cutout.status == Cutout.Status.SUCCEEDED:
        original = {
            "url": storage.signed_url_for(
                cutout.original,
                workspace=cutout.workspace,
                expires=URL_VALIDITY,
                base_url=_base_url(request),
            ),
            "expires_in": int(URL_VALIDITY.total_seconds()),
            "width": cutout.width,
            "height": cutout.height,
        }
    return {
        "id": str(cutout.pk),
        "object": "cutout",
        "status": cutout.status,
        "created_at": _iso(cutout.created_at),
        "finished_at": _iso(cutout.finished_at),
        "input": {
            "name": cutout.input_name,
            "bytes": cutout.input_bytes,
            "sha256": cutout.input_sha256,
            "width": cutout.width,
            "height": cutout.height,
        },
        "options": cutout.options,
        "result": result,
        "metadata": cutout.metadata,
        "credits_charged": cutout.credits_charged,
        "processing_ms": cutout.processing_ms,
        "error": error,
        "hints": cutout.hints,
        "refined": cutout.refined,
        "version": cutout.version,
        "editable": editable,
        "editable_until": _iso(cutout.editable_until) if editable else None,
        "original": original,
    }


def job_json(job: Job, request: HttpRequest) -> dict[str, Any]:
    items = []
    for item in job_items(job):
        cutout = item.cutout
        items.append(
            {
                "id": str(item.pk),
                "position": item.position,
                "name": item.name,
                "status": item.status,
                "error": {"code": item.error_code, "message": item.error_message}
                if item.status == "failed"
                else None,
                "cutout": cutout_json(cutout, request) if cutout is not None else None,
            }
        )
    results_zip = None
    if job.result_zip:
        results_zip = storage.signed_url_for(
            job.result_zip,
            workspace=job.workspace,
            expires=URL_VALIDITY,
            filename=f"cutout-job-{str(job.pk)[:8]}.zip",
            base_url=_base_url(request),
        )
    return {
        "id": str(job.pk),
        "object": "job",
        "status": job.status,
        "created_at": _iso(job.created_at),
        "finished_at": _iso(job.finished_at),
        "options": job.options,
        "progress": job_progress(job).as_dict(),
        "items": items,
        "results_zip_url": results_zip,
    }


# ---------------------------------------------------------------------------------------------
# Input


def build_options(params: dict[str, Any]) -> engine.Options:
    """Engine options from the request's fields: every option the engine has, by its own name."""
    kwargs: dict[str, Any] = {}
    for name, spec in engine.OPTION_SPECS.items():
        value = params.get(name)
        if value is None or value == "" or name == "bg_image":  # bg_image: set from the picture
            continue
        if spec.type == "boolean":
            value = common.parse_bool(value, field=name)
        elif spec.type == "number":
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ApiError(
                    "invalid_parameter", f"{name} must be a number.", field=name
                ) from None
        elif name == "size" and isinstance(value, str) and value.isdigit():
            value = int(value)
        elif not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ApiError("invalid_parameter", f"{name} must be a string.", field=name)
        kwargs[name] = value
    kwargs.setdefault("pipeline", default_pipeline())
    return engine.Options(**kwargs)  # InvalidOption: invalid_parameter, with its field


def _sources(
    params: dict[str, Any], files: MultiValueDict[str, Any], *, many: bool
) -> list[tuple[str, bytes]] | list[UploadedFile]:
    """The images sent: uploads as they are (a batch streams them into storage one at a time,
    never all in memory), or the one image from ``image_b64`` / ``image_url`` as bytes."""
    max_bytes = int(settings.CUTOUT_MAX_UPLOAD_BYTES)
    uploads = files.getlist("image")
    url = params.get("image_url") or ""
    b64 = params.get("image_b64") or ""
    if not isinstance(url, str) or not isinstance(b64, str):
        raise ApiError("invalid_parameter", "image_url and image_b64 must be strings.")
    given = sum(1 for present in (uploads, url.strip(), b64.strip()) if present)
    if given == 0:
        raise ApiError(
            "missing_image",
            "Send the image as 'image' (file), 'image_url' or 'image_b64'.",
            field="image",
        )
    if given > 1 or (len(uploads) > 1 and not many):
        raise ApiError(
            "multiple_images",
            "Send exactly one image (several 'image' files only with async=true).",
            field="image",
        )
    if uploads:
        for upload in uploads:
            if upload.size is not None and upload.size > max_bytes:
                raise ApiError(
                    "file_too_large",
                    f"{upload.name or 'An image'} is {upload.size} bytes; the limit is "
                    f"{max_bytes} bytes.",
                    field="image",
                )
        return list(uploads)
    if b64.strip():
        return [("image", common.decode_b64(b64, max_bytes=max_bytes, field="image_b64"))]
    data, name = common.fetch_url(url.strip(), max_bytes=max_bytes)
    return [(name, data)]


def _background(params: dict[str, Any], files: MultiValueDict[str, Any]) -> bytes | None:
    """A background picture: a ``bg_image`` file, ``bg_image_url`` or ``bg_image_b64`` (one)."""
    max_bytes = int(settings.CUTOUT_MAX_UPLOAD_BYTES)
    upload = files.get("bg_image")
    url, b64 = params.get("bg_image_url") or "", params.get("bg_image_b64") or ""
    if not isinstance(url, str) or not isinstance(b64, str):
        raise ApiError("invalid_parameter", "bg_image_url and bg_image_b64 must be strings.")
    if sum(1 for given in (upload, url.strip(), b64.strip()) if given) > 1:
        raise ApiError(
            "invalid_parameter",
            "Send one background picture: bg_image, bg_image_url or bg_image_b64.",
            field="bg_image",
        )
    if upload is not None:
        return common.read_upload(upload, max_bytes=max_bytes, what="background image")
    if b64.strip():
        return common.decode_b64(b64, max_bytes=max_bytes, field="bg_image_b64")
    if url.strip():
        return common.fetch_background(url.strip(), field="bg_image_url")
    return None


# ---------------------------------------------------------------------------------------------
# Views


@common.api_view(DIALECT, many_files=True)
def cutouts(request: HttpRequest) -> HttpResponse:
    params, files = common.request_params(request)
    run_async = common.parse_bool(
        request.GET.get("async", params.get("async", "false")), field="async"
    )
    options = build_options(params)
    sources = _sources(params, files, many=run_async)
    background = _background(params, files)
    api_key = common.api_workspace_key(request)
    if run_async and background is not None:
        raise ApiError(
            "invalid_parameter",
            "A batch cannot take a background picture; use bg_color or bg_blur.",
            field="bg_image",
        )
    if run_async:
        job = job_create(
            workspace=api_key.workspace,
            files=sources,
            options=options,
            api_key=api_key,
            source=Source.API,
            idempotency_key=common.idempotency_key(request),
        )
        response = JsonResponse(job_json(job, request), status=202)
        response["Location"] = f"/api/v1/jobs/{job.pk}"
        return response
    source = sources[0]
    if isinstance(source, tuple):
        name, data = source
    else:
        name = source.name or "image"
        data = common.read_upload(source, max_bytes=int(settings.CUTOUT_MAX_UPLOAD_BYTES))
    cutout = common.run_cutout(
        request,
        DIALECT,
        data=data,
        options=options,
        input_name=name,
        hints=params.get("hints"),
        background=background,
    )
    replayed = getattr(cutout, "replayed", False)
    response = JsonResponse(cutout_json(cutout, request), status=200 if replayed else 201)
    response["Location"] = f"/api/v1/cutouts/{cutout.pk}"
    common.credit_headers(response, cutout)
    return response


@common.api_view(DIALECT, methods=("GET",))
def cutout_detail(request: HttpRequest, cutout_id: str) -> HttpResponse:
    api_key = common.api_workspace_key(request)
    cutout = selectors.cutout_get(workspace=api_key.workspace, cutout_id=cutout_id)
    if cutout is None:
        raise ApiError("not_found", "No cutout with this id in your workspace.")
    return JsonResponse(cutout_json(cutout, request))


def refine_options(cutout: Cutout, params: dict[str, Any]) -> engine.Options:
    """The refine call's output options: the cutout's current ones, with what the call sends
    instead; the pipeline stays the cutout's."""
    given = {k: v for k, v in params.items() if k in engine.OPTION_SPECS and k != "pipeline"}
    merged = {k: v for k, v in (cutout.options or {}).items() if v is not None}
    merged.update(given)
    merged["pipeline"] = (cutout.options or {}).get("pipeline", cutout.pipeline)
    return build_options(merged)


@common.api_view(DIALECT)
def cutout_refine(request: HttpRequest, cutout_id: str) -> HttpResponse:
    """``POST /api/v1/cutouts/{id}/refine``: the complete hint list, and output options."""
    params, _files = common.request_params(request)
    api_key = common.api_workspace_key(request)
    cutout = selectors.cutout_get(workspace=api_key.workspace, cutout_id=cutout_id)
    if cutout is None:
        raise ApiError("not_found", "No cutout with this id in your workspace.")
    if "hints" not in params:
        raise ApiError("invalid_parameter", "Send the complete hint list as hints.", field="hints")
    refined = refine.cutout_refine(
        cutout=cutout,
        hints=params["hints"],
        options=refine_options(cutout, params),
        user=None,
    )
    response = JsonResponse(cutout_json(refined, request))
    response["X-Credits-Charged"] = "0"
    return response


@common.api_view(DIALECT, methods=("GET",))
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    api_key = common.api_workspace_key(request)
    job = job_get(workspace=api_key.workspace, job_id=job_id)
    if job is None:
        raise ApiError("not_found", "No job with this id in your workspace.")
    return JsonResponse(job_json(job, request))


@common.api_view(DIALECT, methods=("GET",))
def account(request: HttpRequest) -> HttpResponse:
    api_key = common.api_workspace_key(request)
    workspace = api_key.workspace
    balance = balance_for(workspace)
    month = selectors.month_start()
    return JsonResponse(
        {
            "workspace": {"id": workspace.pk, "name": workspace.name, "slug": workspace.slug},
            "api_key": {
                "name": api_key.name,
                "prefix": api_key.prefix,
                "monthly_cap": api_key.monthly_cap,
                "month_credits_used": api_key_month_usage(api_key),
            },
            "credits": {
                "balance": balance.balance,
                "reserved": balance.reserved,
                "available": balance.available,
            },
            "usage": {
                "month_start": _iso(month),
                "this_month": selectors.usage_summary(workspace=workspace, since=month),
                "this_month_this_key": selectors.usage_summary(
                    workspace=workspace, api_key=api_key, since=month
                ),
                "all_time": selectors.usage_summary(workspace=workspace),
            },
        }
    )


@common.api_view(DIALECT, methods=("GET",))
def models(request: HttpRequest) -> HttpResponse:
    default = default_pipeline()
    pipelines = [
        {
            "name": pipeline.name,
            "models": list(pipeline.models),
            "description": pipeline.description,
            "default": pipeline.name == default,
        }
        for pipeline in engine.PIPELINES.values()
    ]
    return JsonResponse(
        {"default_pipeline": default, "pipelines": pipelines, "models": engine.list_models()}
    )
