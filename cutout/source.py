"""``GET /source``: the corresponding source of the running Cutout (AGPL-3.0 section 13).

Operators who publish their source elsewhere set ``CUTOUT_SOURCE_URL`` and are redirected there.
Otherwise the container image serves the archive of its build context, made when it was built
(``CUTOUT_SOURCE_ARCHIVE``), and a checkout served from git streams ``git archive`` of the
running commit.
"""

from __future__ import annotations

import subprocess

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET


@require_GET
def source(request: HttpRequest) -> HttpResponseBase:
    if settings.CUTOUT_SOURCE_URL:
        return HttpResponseRedirect(settings.CUTOUT_SOURCE_URL)
    if settings.CUTOUT_SOURCE_ARCHIVE:
        return FileResponse(
            open(settings.CUTOUT_SOURCE_ARCHIVE, "rb"),
            as_attachment=True,
            filename="cutout-source.tar.gz",
            content_type="application/gzip",
        )
    try:
        archive = subprocess.run(
            ["git", "archive", "--format=tar.gz", "--prefix=cutout/", "HEAD"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return HttpResponse(
            "Cutout is free software under the GNU AGPL v3 or later. This server was not "
            "deployed from a git checkout; ask its operator for the source, or set "
            "CUTOUT_SOURCE_URL.",
            content_type="text/plain; charset=utf-8",
            status=404,
        )
    response = HttpResponse(archive, content_type="application/gzip")
    response["Content-Disposition"] = 'attachment; filename="cutout-source.tar.gz"'
    return response
