"""The web app: landing, upload, results, library, batches and the workspace usage chart.

Views stay thin: cutouts are made by :func:`cutout.services.cutout_create`, re-rendered for free by
:func:`cutout.services.cutout_rerender`, batches by :func:`cutout.jobs.job_create`. Every object is
looked up through the current workspace (another workspace's cutout or batch is a 404), and files
leave only as signed, expiring URLs made after that check.

The upload endpoint answers JSON to the page's script (``Accept: application/json``) and plain
pages otherwise, so uploading also works with JavaScript off.
"""

from __future__ import annotations

import io
import logging
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.core.paginator import Paginator
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_POST
from PIL import Image

from accounts.models import Membership, User, Workspace
from billing.errors import InsufficientCredits, MonthlyCapExceeded
from cutout import engine, jobs, selectors, services
from cutout.context_processors import upload_limits
from cutout.files import storage
from cutout.forms import LibraryFilterForm, OptionsForm, initial_from, style_of
from cutout.models import Cutout, Job, JobItem, Source

logger = logging.getLogger(__name__)

V = TypeVar("V", bound=Callable[..., HttpResponse])

PAGE_SIZE = 24
THUMB_SIDE = 360
RECENT = 8
FORMAT_LABELS = {"png": "PNG", "jpeg": "JPG", "webp": "WebP", "avif": "AVIF", "zip": "ZIP"}
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "avif": "avif", "zip": "zip"}


# ---------------------------------------------------------------------------------------------
# Access


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def workspace_page(view: V) -> V:
    """Signed in with a current workspace; otherwise a clear "please log in" (or JSON 401)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            if _wants_json(request) or request.path.endswith(".json"):
                return _json_error(
                    401,
                    "not_signed_in",
                    "You are signed out",
                    "Your session has ended. Log in again to continue.",
                    action=(reverse("login"), "Log in"),
                )
            messages.info(request, "Log in (or create a free account) to remove backgrounds.")
            return redirect_to_login(request.get_full_path())
        if getattr(request, "workspace", None) is None:
            raise Http404("No workspace.")
        return view(request, *args, **kwargs)

    return cast(V, wrapped)


def _workspace(request: HttpRequest) -> Workspace:
    return cast(Workspace, request.workspace)  # type: ignore[attr-defined]


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _base_url(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _cutout_or_404(request: HttpRequest, cutout_id: Any) -> Cutout:
    cutout = selectors.cutout_get(workspace=_workspace(request), cutout_id=cutout_id)
    if cutout is None:
        raise Http404("No such cutout.")
    return cutout


def _job_or_404(request: HttpRequest, job_id: Any) -> Job:
    job = selectors.job_get(workspace=_workspace(request), job_id=job_id)
    if job is None:
        raise Http404("No such batch.")
    return job


def _stable_expiry() -> int:
    """Seconds until a moment fixed for the current hour, plus a day.

    Signed URLs made within the same hour are then identical, so the browser can cache images
    (thumbnails above all) instead of fetching them again on every page view.
    """
    now = int(time.time())
    return (now // 3600 + 1) * 3600 + 24 * 3600 - now


def _file_url(request: HttpRequest, file: Any, *, filename: str | None = None) -> str:
    return storage.signed_url_for(
        file,
        workspace=_workspace(request),
        expires=_stable_expiry(),
        filename=filename,
        base_url=_base_url(request),
    )


# ---------------------------------------------------------------------------------------------
# Errors in the page's words


@dataclass(frozen=True)
class Problem:
    status: int
    code: str
    title: str
    message: str
    action: tuple[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "title": self.title,
            "message": self.message,
            "charged": False,
        }
        if self.action:
            out["action_url"], out["action_label"] = self.action
        return out


def _json_error(
    status: int, code: str, title: str, message: str, action: tuple[str, str] | None = None
) -> JsonResponse:
    return JsonResponse(
        {"error": Problem(status, code, title, message, action).as_dict()}, status=status
    )


def _mb(value: int) -> str:
    return f"{value / (1024 * 1024):.1f} MB"


def problem_for(exc: BaseException) -> Problem:
    """Map an engine, billing or batch error to what the page shows. Nothing was charged."""
    limit = _mb(int(settings.CUTOUT_MAX_UPLOAD_BYTES))
    if isinstance(exc, InsufficientCredits):
        return Problem(
            402,
            "no_credits",
            "You're out of credits",
            "Each cutout costs one credit and this workspace has none left. Buy a credit pack "
            "(or ask an admin to add credits) and try again. Nothing was charged.",
            (reverse("billing"), "Buy credits"),
        )
    if isinstance(exc, MonthlyCapExceeded):
        return Problem(402, "monthly_cap_exceeded", "Monthly cap reached", exc.message)
    if isinstance(exc, engine.ImageTooLarge):
        return Problem(
            413,
            "file_too_big",
            "File too big",
            f"Files can be at most {limit}. Nothing was charged.",
        )
    if isinstance(exc, engine.TooManyPixels):
        mp = int(settings.CUTOUT_MAX_PIXELS) / 1_000_000
        return Problem(
            413,
            "file_too_big",
            "Image too large",
            f"Images can have at most {mp:g} megapixels. Scale it down and try again. "
            "Nothing was charged.",
        )
    if isinstance(exc, engine.ImageTooSmall):
        return Problem(400, "image_too_small", "Image too small", exc.message)
    if isinstance(exc, engine.UnsupportedFormat | engine.InvalidImage):
        return Problem(
            415,
            "unsupported_file",
            "Unsupported file",
            f"{exc.message} Use a JPG, PNG, WebP, AVIF, GIF, BMP or TIFF image. "
            "Nothing was charged.",
        )
    if isinstance(exc, engine.InvalidOption):
        return Problem(400, "invalid_option", "Invalid option", exc.message)
    if isinstance(exc, jobs.JobInputError):
        return Problem(400, exc.code, "Batch not accepted", exc.message)
    return Problem(
        500,
        "processing_failed",
        "Processing failed",
        "Something went wrong while removing the background. You were not charged; please try "
        "again.",
    )


# ---------------------------------------------------------------------------------------------
# Landing and home


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "landing.html", {"limits": upload_limits()})


def _recent(workspace: Workspace) -> QuerySet[Cutout]:
    return (
        _originals(selectors.cutouts_for_workspace(workspace))
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
            "recent": _recent(_workspace(request)),
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
        try:
            options = form.engine_options()
            if len(files) == 1 and not _is_zip(files[0]):
                return _upload_one(request, files[0], options)
            return _upload_batch(request, files, options)
        except (
            engine.EngineError,
            InsufficientCredits,
            MonthlyCapExceeded,
            jobs.JobInputError,
        ) as exc:
            problem = problem_for(exc)
        except Exception as exc:
            logger.exception("web upload failed")
            problem = problem_for(exc)
    assert problem is not None
    if _wants_json(request):
        return JsonResponse({"error": problem.as_dict()}, status=problem.status)
    return _home(request, form, problem, status=problem.status)


def _upload_one(request: HttpRequest, file: UploadedFile, options: engine.Options) -> HttpResponse:
    if (file.size or 0) > int(settings.CUTOUT_MAX_UPLOAD_BYTES):
        raise engine.ImageTooLarge("The file is too large.")
    cutout = services.cutout_create(
        workspace=_workspace(request),
        data=file.read(),
        options=options,
        user=_user(request),
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
    request: HttpRequest, files: list[UploadedFile], options: engine.Options
) -> HttpResponse:
    # One file here is a ZIP of images (_upload sends a single image to _upload_one).
    inputs: dict[str, Any] = {"zip_file": files[0]} if len(files) == 1 else {"files": files}
    job = jobs.job_create(
        workspace=_workspace(request),
        options=options,
        user=_user(request),
        source=Source.WEB,
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
            **_batch_payload(request, job),
        },
    )


def _created(request: HttpRequest, url: str, payload: Callable[[], dict[str, Any]]) -> HttpResponse:
    """An upload's answer: a redirect to ``url`` for a form post, or 201 JSON for the page's
    script (``payload`` is only built then)."""
    if not _wants_json(request):
        return redirect(url)
    return JsonResponse({**payload(), "url": url}, status=201)


def _originals(qs: QuerySet[Cutout]) -> QuerySet[Cutout]:
    """Cutouts made from an upload (re-renders are shown with the cutout they came from)."""
    return qs.exclude(metadata__has_key="rerender_of")


def _root(cutout: Cutout) -> Cutout:
    parent_id = (cutout.metadata or {}).get("rerender_of")
    if not parent_id:
        return cutout
    parent = selectors.cutout_get(workspace=cutout.workspace, cutout_id=parent_id)
    return parent if parent is not None and parent.matte else cutout


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


@workspace_page
@require_GET
def cutout_detail(request: HttpRequest, cutout_id: str) -> HttpResponse:
    cutout = _cutout_or_404(request, cutout_id)
    root = _root(cutout)
    versions = list(
        selectors.cutouts_for_workspace(_workspace(request))
        .filter(Q(pk=root.pk) | Q(metadata__rerender_of=str(root.pk)))
        .filter(status=Cutout.Status.SUCCEEDED)
        .order_by("created_at")[:24]
    )
    options = cutout.options or {}
    fmt = str(options.get("format", "png"))
    shown = None
    if cutout.status == Cutout.Status.SUCCEEDED and cutout.result:
        # A ZIP result cannot be shown: show the stored RGBA foreground instead.
        shown = _file_url(request, cutout.matte if fmt == "zip" else cutout.result)
    context = {
        "cutout": cutout,
        "root": root,
        "versions": versions,
        "style": style_of(options),
        "options": options,
        "format_label": FORMAT_LABELS.get(fmt, fmt.upper()),
        "result_url": shown,
        "original_url": _file_url(request, root.original) if root.original else None,
        "result_bytes": _size_of(cutout.result) if cutout.result else None,
        "downloads": [
            (f, FORMAT_LABELS[f], reverse("cutout_download", args=[cutout.pk, f]), f == fmt)
            for f in _formats_for(cutout)
        ]
        if shown
        else [],
        "form": OptionsForm(initial=initial_from(options)),
        "rerender_of": root if root.pk != cutout.pk else None,
    }
    return render(request, "cutout/result.html", context)


def _rerender(request: HttpRequest, source: Cutout, options: engine.Options) -> Cutout:
    """A free version of ``source`` in ``options``; an identical version already made is reused."""
    wanted = services.options_as_dict(options)
    wanted["pipeline"] = source.options.get("pipeline", source.pipeline)
    key = services.dedup_key_for(source.input_sha256, wanted)
    existing = (
        selectors.cutouts_for_workspace(_workspace(request))
        .filter(dedup_key=key, status=Cutout.Status.SUCCEEDED)
        .exclude(result="")
        .order_by("-created_at")
        .first()
    )
    if existing is not None:
        return existing
    return services.cutout_rerender(cutout=source, options=options, user=_user(request))


@workspace_page
@require_POST
def cutout_rerender(request: HttpRequest, cutout_id: str) -> HttpResponse:
    cutout = _cutout_or_404(request, cutout_id)
    source = _root(cutout)
    form = OptionsForm(request.POST)
    if not form.is_valid():
        first = next(iter(form.errors.values()))[0]
        messages.error(request, f"Could not re-render: {first}")
        return redirect("cutout_detail", cutout.pk)
    try:
        new = _rerender(request, source, form.engine_options(pipeline=source.pipeline or None))
    except engine.EngineError as exc:
        messages.error(request, f"Could not re-render: {exc.message} Nothing was charged.")
        return redirect("cutout_detail", cutout.pk)
    messages.success(request, "Re-rendered from the stored matte. No credit was used.")
    return redirect("cutout_detail", new.pk)


@workspace_page
@require_GET
def cutout_download(request: HttpRequest, cutout_id: str, fmt: str) -> HttpResponse:
    cutout = _cutout_or_404(request, cutout_id)
    if cutout.status != Cutout.Status.SUCCEEDED or not cutout.result:
        raise Http404("This cutout has no result.")
    if fmt not in _formats_for(cutout):
        raise Http404("Unknown format.")
    target = cutout
    if fmt != (cutout.options or {}).get("format"):
        opts = {**(cutout.options or {}), "format": fmt}
        if fmt == "jpeg" and opts.get("channels") == "rgba":
            opts["channels"] = None
        if fmt == "zip":
            opts["channels"] = None
        try:
            target = _rerender(request, _root(cutout), services.options_from_dict(opts))
        except engine.EngineError as exc:
            messages.error(request, f"Could not make a {FORMAT_LABELS[fmt]}: {exc.message}")
            return redirect("cutout_detail", cutout.pk)
    return HttpResponseRedirect(
        _file_url(request, target.result, filename=_download_name(cutout, fmt))
    )


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


@workspace_page
@require_GET
def cutout_thumb(request: HttpRequest, cutout_id: str) -> HttpResponse:
    """A small WebP of the result (made once, kept next to it), served by a signed URL."""
    cutout = _cutout_or_404(request, cutout_id)
    name = cutout.thumbnail_name
    if cutout.status != Cutout.Status.SUCCEEDED or name is None:
        raise Http404("No result.")
    if not default_storage.exists(name):
        try:
            name = default_storage.save(name, ContentFile(_thumb_bytes(cutout)))
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            logger.warning("no thumbnail for cutout %s: %s", cutout.pk, type(exc).__name__)
            raise Http404("No thumbnail.") from None
    response = HttpResponseRedirect(_file_url(request, name))
    patch_cache_control(response, private=True, max_age=1800)
    return response


@workspace_page
@require_POST
def cutout_delete(request: HttpRequest, cutout_id: str) -> HttpResponse:
    cutout = _cutout_or_404(request, cutout_id)
    services.cutouts_delete(workspace=_workspace(request), cutouts=[cutout])
    messages.success(request, f"Deleted {cutout.input_name or 'the cutout'}.")
    return redirect("library")


# ---------------------------------------------------------------------------------------------
# Library


def _member_choices(workspace: Workspace) -> list[tuple[str, str]]:
    rows = (
        Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by("user__email")
    )
    return [(str(m.user_id), m.user.get_full_name() or m.user.email) for m in rows]


STYLE_FILTERS: dict[str, Q] = {
    "transparent": Q(options__mode="transparent") & ~Q(options__crop=True),
    "mask": Q(options__mode="mask"),
    "white": Q(options__mode="background", options__bg_color__in=["#ffffff", "#fff", "white"]),
    "color": Q(options__mode="background") & ~Q(options__bg_color__in=["#ffffff", "#fff", "white"]),
    "crop": Q(options__mode="transparent", options__crop=True),
    "shadow": Q(options__mode="shadow"),
}


@workspace_page
def library(request: HttpRequest) -> HttpResponse:
    workspace = _workspace(request)
    if request.method == "POST":
        ids = [i for i in request.POST.getlist("cutout") if selectors._uuid(i)]
        chosen = list(selectors.cutouts_for_workspace(workspace).filter(pk__in=ids))
        if chosen:
            count = services.cutouts_delete(workspace=workspace, cutouts=chosen)
            messages.success(
                request, f"Deleted {len(chosen)} cutout{'s' if len(chosen) != 1 else ''}."
            )
            logger.info("library delete: %d rows", count)
        else:
            messages.info(request, "Select the cutouts to delete first.")
        return redirect(request.get_full_path())
    filters = LibraryFilterForm(request.GET or None, members=_member_choices(workspace))
    qs = _originals(selectors.cutouts_for_workspace(workspace)).select_related(
        "created_by", "api_key"
    )
    if filters.is_valid():
        data = filters.cleaned_data
        since = filters.since()
        if since is not None:
            qs = qs.filter(created_at__gte=since)
        if data.get("mode") in STYLE_FILTERS:
            qs = qs.filter(STYLE_FILTERS[data["mode"]])
        member = data.get("member")
        if member == "api":
            qs = qs.filter(api_key__isnull=False)
        elif member:
            qs = qs.filter(created_by_id=member)
    page = Paginator(qs.order_by("-created_at"), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "cutout/library.html",
        {
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "filtered": any(request.GET.get(k) for k in ("date", "mode", "member")),
            "total": selectors.cutouts_for_workspace(workspace).count(),
        },
    )


# ---------------------------------------------------------------------------------------------
# Batches


def _item_payload(request: HttpRequest, item: JobItem) -> dict[str, Any]:
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


def _batch_payload(request: HttpRequest, job: Job) -> dict[str, Any]:
    progress = jobs.job_progress(job)
    job.refresh_from_db(fields=["status", "result_zip", "finished_at"])
    closed = job.status in (Job.Status.DONE, Job.Status.FAILED)
    return {
        "status": job.status,
        **progress.as_dict(),
        "closed": closed,
        "zip_url": reverse("batch_zip", args=[job.pk]) if job.result_zip else None,
        "items": [_item_payload(request, item) for item in selectors.job_items(job)],
    }


@workspace_page
@require_GET
def batches(request: HttpRequest) -> HttpResponse:
    workspace = _workspace(request)
    S = JobItem.Status
    qs = (
        Job.objects.filter(workspace=workspace)
        .select_related("created_by", "api_key")
        .annotate(
            total=Count("items"),
            done=Count("items", filter=Q(items__status=S.DONE)),
            failed=Count("items", filter=Q(items__status=S.FAILED)),
        )
        .order_by("-created_at")
    )
    page = Paginator(qs, 20).get_page(request.GET.get("page"))
    return render(request, "cutout/batches.html", {"page": page})


@workspace_page
@require_GET
def batch_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    job = _job_or_404(request, job_id)
    payload = _batch_payload(request, job)
    return render(
        request,
        "cutout/batch.html",
        {
            "job": job,
            "batch": payload,
            "style": style_of(job.options or {}),
            "format_label": FORMAT_LABELS.get(str((job.options or {}).get("format")), ""),
        },
    )


@workspace_page
@require_GET
def batch_status(request: HttpRequest, job_id: str) -> JsonResponse:
    job = _job_or_404(request, job_id)
    response = JsonResponse(_batch_payload(request, job))
    patch_cache_control(response, no_store=True)
    return response


@workspace_page
@require_GET
def batch_zip(request: HttpRequest, job_id: str) -> HttpResponse:
    job = _job_or_404(request, job_id)
    if not job.result_zip:
        raise Http404("The ZIP is made when the batch has finished.")
    name = f"cutout-batch-{job.created_at:%Y%m%d-%H%M}.zip"
    return HttpResponseRedirect(_file_url(request, job.result_zip, filename=name))


# ---------------------------------------------------------------------------------------------
# Usage: credits per day, per member and per API key


PALETTE = ("#4f46e5", "#0ea5e9", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#ec4899", "#64748b")


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    kind: str  # "member" or "key"
    values: list[int]
    colour: str

    @property
    def total(self) -> int:
        return sum(self.values)


def usage_series(*, workspace: Workspace, start: date, end: date) -> list[Series]:
    """Credits used per day (debits net of refunds) by each member and each API key."""
    from billing.models import LedgerEntry

    tz = timezone.get_current_timezone()
    rows = (
        LedgerEntry.objects.filter(
            workspace=workspace,
            created_at__date__gte=start,
            created_at__date__lte=end,
        )
        .filter(
            Q(kind=LedgerEntry.Kind.DEBIT)
            | Q(kind=LedgerEntry.Kind.REFUND, refund_of__isnull=False)
        )
        .annotate(
            day=TruncDate("created_at", tzinfo=tz),
            user_id=F("actor_user_id"),
            key_id=F("actor_api_key_id"),
            ref_user=F("refund_of__actor_user_id"),
            ref_key=F("refund_of__actor_api_key_id"),
        )
        .values("day", "kind", "user_id", "key_id", "ref_user", "ref_key")
        .annotate(total=Sum("amount"))
    )
    days = (end - start).days + 1
    buckets: dict[tuple[str, int], list[int]] = {}
    for row in rows:
        refund = row["kind"] == LedgerEntry.Kind.REFUND
        key_id = row["ref_key"] if refund else row["key_id"]
        user_id = row["ref_user"] if refund else row["user_id"]
        who = ("key", key_id) if key_id else ("member", user_id or 0)
        values = buckets.setdefault(who, [0] * days)
        index = (row["day"] - start).days
        if 0 <= index < days:
            values[index] += -int(row["total"] or 0)
    users = dict(
        User.objects.filter(pk__in=[k for kind, k in buckets if kind == "member"]).values_list(
            "pk", "email"
        )
    )
    from accounts.models import ApiKey

    keys = {
        pk: f"{name} ({prefix}…)"
        for pk, name, prefix in ApiKey.objects.filter(
            workspace=workspace, pk__in=[k for kind, k in buckets if kind == "key"]
        ).values_list("pk", "name", "prefix")
    }
    out: list[Series] = []
    for (kind, pk), values in sorted(buckets.items(), key=lambda kv: -sum(kv[1])):
        label = users.get(pk, "System") if kind == "member" else keys.get(pk, f"Key #{pk}")
        colour = PALETTE[len(out) % len(PALETTE)]
        out.append(Series(f"{kind}-{pk}", label, kind, [max(v, 0) for v in values], colour))
    return out


def stacked_chart(series: list[Series], start: date, days: int) -> SafeString:
    """A server-drawn SVG of stacked daily bars (no JavaScript, nothing fetched)."""
    width, height, left, bottom, top = 760, 240, 40, 28, 12
    plot_w, plot_h = width - left - 8, height - top - bottom
    totals = [sum(s.values[i] for s in series) for i in range(days)]
    highest = max([*totals, 1])
    step = 1
    while highest / step > 4:
        step = step * 5 // 2 if str(step).startswith("2") else step * 2
    top_value = max(step * 4, highest)
    slot = plot_w / days
    bar = max(slot * 0.7, 1.5)
    parts = [
        f'<svg class="stacked-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="usage-title usage-desc" xmlns="http://www.w3.org/2000/svg">',
        '<title id="usage-title">Credits used per day by member and API key</title>',
        f'<desc id="usage-desc">{sum(totals)} credits over {days} days from {start.isoformat()}.'
        "</desc>",
    ]
    for i in range(5):
        value = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>'
        )
    for i in range(days):
        x = left + slot * i + (slot - bar) / 2
        y = top + plot_h
        day = start + timedelta(days=i)
        for s in series:
            v = s.values[i]
            if not v:
                continue
            h = plot_h * v / top_value
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{s.colour}"><title>{day:%b %d}: {escape(s.label)} {v}</title></rect>'
            )
        if (days - 1 - i) % 7 == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 8}" text-anchor="middle">'
                f"{day:%b %d}</text>"
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every label above is escaped


@workspace_page
@require_GET
def workspace_usage(request: HttpRequest) -> HttpResponse:
    workspace = _workspace(request)
    try:
        days = max(7, min(int(request.GET.get("days", 30)), 90))
    except ValueError:
        days = 30
    end = timezone.localdate()
    start = end - timedelta(days=days - 1)
    series = usage_series(workspace=workspace, start=start, end=end)
    return render(
        request,
        "cutout/usage.html",
        {
            "series": series,
            "members": [s for s in series if s.kind == "member"],
            "keys": [s for s in series if s.kind == "key"],
            "chart": stacked_chart(series, start, days),
            "days": days,
            "start": start,
            "end": end,
            "total": sum(s.total for s in series),
        },
    )
