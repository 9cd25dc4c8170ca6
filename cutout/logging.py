"""Structured logging: a request id on every log line and every response.

The id comes from a valid incoming ``X-Request-ID`` header or is generated, lives in a context
variable for the duration of the request (or Celery task), and is echoed back in the response.
JSON lines come from python-json-logger (every ``extra`` field kept); the access line names the
path with secrets taken out (tokens in links, secret query parameters).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from django.http import HttpRequest, HttpResponse
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from cutout.requestid import new_request_id, request_id_var

_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
logger = logging.getLogger("cutout.request")


def current_request_id() -> str:
    return request_id_var.get()


class RequestIdFilter(logging.Filter):
    """Puts the request id on every record. Django logs its ``django.request`` lines (404s,
    500s) after the middleware has returned, so those take the id from the request they carry,
    and their path is redacted like the access line's."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        rid = getattr(request, "request_id", None) if request is not None else None
        record.request_id = rid or request_id_var.get()
        if (
            request is not None
            and record.name.startswith("django.request")
            and isinstance(record.args, tuple)
            and request.path in record.args
        ):
            path = loggable_path(request)
            record.args = tuple(path if arg == request.path else arg for arg in record.args)
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: time, level, logger, request_id, message, then every ``extra``
    field of the call (``logger.info("...", extra={"job": id})``) and ``exc_info`` when there is
    an exception."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s")
        kwargs.setdefault(
            "rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"}
        )
        kwargs.setdefault("datefmt", "%Y-%m-%dT%H:%M:%S%z")
        # Django's records carry the request object: its repr holds the raw query string.
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request"])
        super().__init__(*args, **kwargs)


# URL parts that are secrets: path arguments of links sent by mail or signed (files, invitations,
# email verification, password reset) and query parameters that carry keys or signatures.
SECRET_PATH_ARGS = frozenset({"token", "uidb64", "key", "signature"})
SECRET_QUERY = re.compile(
    r"(token|key|secret|password|signature|sig|code|session|credential|auth|x-amz-.*)$", re.I
)
REDACTED = "[redacted]"


def loggable_path(request: HttpRequest) -> str:
    """The request's path and query string, with the secrets in them replaced by [redacted]."""
    path = request.path
    match = getattr(request, "resolver_match", None)
    if match is not None:
        for name, value in match.kwargs.items():
            if name in SECRET_PATH_ARGS and value:
                path = path.replace(quote(str(value), safe="/:@!$&'()*+,;="), REDACTED)
                path = path.replace(str(value), REDACTED)
    query = request.META.get("QUERY_STRING", "")
    if not query:
        return path
    pairs = [
        (name, REDACTED if SECRET_QUERY.search(name) else value)
        for name, value in parse_qsl(query, keep_blank_values=True)
    ]
    return f"{path}?{urlencode(pairs, safe='[]')}"


def route_of(request: HttpRequest) -> str:
    """The URL pattern that answered (a bounded label for metrics), or ``unmatched``."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or match.route or "unmatched"


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _VALID_ID.match(incoming) else new_request_id()
        request.request_id = rid  # type: ignore[attr-defined]
        token = request_id_var.set(rid)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = rid
            elapsed = time.perf_counter() - started
            path = loggable_path(request)
            logger.info(
                "%s %s %s %.0fms",
                request.method,
                path,
                response.status_code,
                elapsed * 1000,
                extra={
                    "method": request.method,
                    "path": path,
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
            observe_request(request, response.status_code, elapsed)
            return response
        finally:
            request_id_var.reset(token)


def observe_request(request: HttpRequest, status: int, seconds: float) -> None:
    """Request latency by route, method and status (``cutout_http_request_duration_seconds``)."""
    from cutout import metrics

    metrics.HTTP_REQUESTS.labels(
        route=route_of(request), method=request.method or "-", status=str(status)
    ).observe(seconds)
