"""What every web view shares: the sign-in gate, the current workspace, lookups that 404 outside
it, and signed file URLs made after that check."""

from __future__ import annotations

import time
from typing import Any, cast

from django.http import Http404, HttpRequest

from accounts.decorators import workspace_required
from accounts.models import User, Workspace
from cutout.cutouts.selectors import cutout_get
from cutout.files import storage
from cutout.jobs.selectors import job_get
from cutout.models import Cutout, Job

# The one gate (accounts'), as the web app's pages use it: a signed-out visitor is sent to log in
# with this message, and the page's script gets the web app's JSON 401 instead.
workspace_page = workspace_required(
    login_message="Log in (or create a free account) to remove backgrounds.", answer_json=True
)


def current_workspace(request: HttpRequest) -> Workspace:
    return cast(Workspace, request.workspace)  # type: ignore[attr-defined]


def current_user(request: HttpRequest) -> User:
    return cast(User, request.user)


def cutout_or_404(request: HttpRequest, cutout_id: Any) -> Cutout:
    cutout = cutout_get(workspace=current_workspace(request), cutout_id=cutout_id)
    if cutout is None:
        raise Http404("No such cutout.")
    return cutout


def job_or_404(request: HttpRequest, job_id: Any) -> Job:
    job = job_get(workspace=current_workspace(request), job_id=job_id)
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


def file_url(request: HttpRequest, file: Any, *, filename: str | None = None) -> str:
    """A signed URL to one of the current workspace's files (refuses any other's)."""
    return storage.signed_url_for(
        file,
        workspace=current_workspace(request),
        expires=_stable_expiry(),
        filename=filename,
        base_url=f"{request.scheme}://{request.get_host()}",
    )
