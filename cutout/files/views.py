"""``/files/<token>``: serves a stored file to whoever holds a valid, unexpired signed token.

The permission check happens when the URL is made (see :mod:`cutout.files.storage`); the token is the
capability. Local storage only in practice: on S3 the URLs point at the bucket directly, and an old
local token met on an S3 deployment is answered with a fresh presigned redirect.
"""

from __future__ import annotations

import time

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

from cutout.files import storage


@require_safe
def file_download(request: HttpRequest, token: str) -> HttpResponseBase:
    try:
        grant = storage.file_token_read(token)
    except storage.FileTokenError as exc:
        response = HttpResponse(str(exc), status=404, content_type="text/plain; charset=utf-8")
        patch_cache_control(response, no_store=True)
        return response
    if storage.storage_is_s3():
        seconds = max(int(grant.expires_at.timestamp() - time.time()), 1)
        return HttpResponseRedirect(
            storage.signed_url(grant.name, expires=seconds, filename=grant.filename or None)
        )
    try:
        handle = default_storage.open(grant.name, "rb")
    except (FileNotFoundError, IsADirectoryError):
        raise Http404("This file no longer exists.") from None
    served = FileResponse(
        handle,
        as_attachment=bool(grant.filename),
        filename=grant.filename or "",
        content_type=storage.content_type_for(grant.filename or grant.name),
    )
    served["X-Content-Type-Options"] = "nosniff"
    served["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    remaining = max(int(grant.expires_at.timestamp() - time.time()), 0)
    patch_cache_control(served, private=True, max_age=min(remaining, 3600))
    return served
