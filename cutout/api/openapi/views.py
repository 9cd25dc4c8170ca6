"""``/api/openapi.json`` and the API's documentation page (``/api/docs``).

The page is Swagger UI (from the drf-spectacular-sidecar package, served as our own static files)
drawing ``/api/openapi.json``: the document holds every operation of every API, each API's summary
and a copy-paste call per operation (:mod:`~cutout.api.openapi.samples`).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from cutout.api.openapi.document import document

# Everything from this origin: no inline script or style, nothing from elsewhere. Swagger UI's
# stylesheet draws its icons as data: SVGs, and "Try it out" shows returned images as blob: URLs.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)


@require_safe
def openapi_json(request: HttpRequest) -> HttpResponse:
    origin = request.build_absolute_uri("/").rstrip("/")
    response = JsonResponse(document(origin), json_dumps_params={"indent": 1})
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
def docs(request: HttpRequest) -> HttpResponse:
    response = render(request, "api/docs.html")
    response["Content-Security-Policy"] = DOCS_POLICY
    return response
