"""The site's own error pages for what no view handled: outages and unreadable requests.

Django calls these for exceptions a view or a middleware let through (``handler500`` and
``handler400`` in :mod:`cutout.urls`); API endpoints have answered in their own dialect before.

- :func:`server_error`: when the exception says a dependency is down (the database, storage or
  the broker: :func:`cutout.errors.outage_code`), ``503`` with ``Retry-After`` and a page that
  says to try again, rendered without the database (no context processors, no session).
  Anything else is the plain ``500`` page.
- :func:`bad_request`: a request Django could not read (too many files or fields, a body over
  the limits) gets the web app's JSON error when the client asked for JSON (the upload page's
  script does), and Django's own page otherwise.
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.views import defaults

from accounts.decorators import wants_json
from cutout.errors import RETRY_AFTER_S, outage_code
from cutout.logging import current_request_id
from cutout.web.problems import Problem

logger = logging.getLogger(__name__)


def server_error(request: HttpRequest) -> HttpResponse:
    exc = sys.exc_info()[1]
    code = outage_code(exc) if exc is not None else None
    if code is None:
        return HttpResponse(loader.render_to_string("500.html"), status=500)
    logger.error("%s: answered 503 to %s %s", code, request.method, request.path)
    if wants_json(request):
        problem = Problem(503, code, "Try again later", "Part of the service is unavailable.")
        response: HttpResponse = problem.response()
    else:
        page = loader.render_to_string(
            "503.html", {"retry_after": RETRY_AFTER_S, "request_id": current_request_id()}
        )
        response = HttpResponse(page, status=503)
        response["Retry-After"] = str(RETRY_AFTER_S)
    response["Cache-Control"] = "no-store"
    return response


def _unreadable(exc: BaseException) -> Problem:
    if isinstance(exc, TooManyFilesSent):
        most = int(settings.CUTOUT_BATCH_MAX_ITEMS)
        return Problem(
            400,
            "too_many_files",
            "Too many files",
            f"A batch takes at most {most} files. Send fewer files, or one ZIP archive. "
            "Nothing was charged.",
        )
    if isinstance(exc, RequestDataTooBig):
        return Problem(
            413, "request_too_large", "Upload too large", "The upload is too large to accept."
        )
    if isinstance(exc, TooManyFieldsSent):
        return Problem(400, "too_many_fields", "Request not accepted", "Too many form fields.")
    return Problem(400, "bad_request", "Request not accepted", "The request could not be read.")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if wants_json(request):
        return _unreadable(exception).response()
    return defaults.bad_request(request, exception)
