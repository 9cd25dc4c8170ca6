"""The editor's JSON views on a cutout (guided refinement), for the result page's script.

``GET /app/cutouts/<id>/edit.json`` gives the editor's state; ``POST /app/cutouts/<id>/refine``
(JSON body ``{"hints": [...], ...output options}``, the session's cookie and CSRF token) refines
through the same service as the API (:func:`cutout.cutouts.refine.cutout_refine`: free, the
complete hint list each time) and answers the new state. Errors answer
``{"error": {code, title, message, field?, charged: false}}`` with the table's status.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from cutout import engine
from cutout.cutouts.refine import cutout_editable, cutout_refine
from cutout.errors import CutoutError
from cutout.models import Cutout
from cutout.web.common import current_user, cutout_or_404, file_url, workspace_page
from cutout.web.problems import problem_for


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def editor_state(request: HttpRequest, cutout: Cutout) -> dict[str, Any]:
    """What the editor draws from: the image, the current matte and result, the hints."""
    done = cutout.status == Cutout.Status.SUCCEEDED and bool(cutout.result)
    versions = list(cutout.versions.order_by("number").values("number", "hints", "created_at"))
    return {
        "id": str(cutout.pk),
        "width": cutout.width,
        "height": cutout.height,
        "status": cutout.status,
        "version": cutout.version,
        "hints": cutout.hints,
        "refined": cutout.refined,
        "editable": cutout_editable(cutout),
        "editable_until": _iso(cutout.editable_until),
        "options": cutout.options,
        "result": {
            "url": file_url(request, cutout.result),
            "content_type": cutout.result_content_type,
            "width": cutout.result_width,
            "height": cutout.result_height,
        }
        if done
        else None,
        # The stored matte file: RGBA, its alpha the matte (what local brush previews start from).
        "matte_url": file_url(request, cutout.matte) if done and cutout.matte else None,
        "original_url": file_url(request, cutout.original) if cutout.original else None,
        "versions": [
            {"number": v["number"], "hints": len(v["hints"]), "created_at": _iso(v["created_at"])}
            for v in versions
        ],
    }


def _error(exc: BaseException) -> JsonResponse:
    problem = problem_for(exc)
    body = problem.as_dict()
    if getattr(exc, "field", None):
        body["field"] = exc.field  # type: ignore[attr-defined]
    return JsonResponse({"error": body}, status=problem.status)


@workspace_page
@require_GET
def cutout_edit_state(request: HttpRequest, cutout_id: str) -> HttpResponse:
    return JsonResponse(editor_state(request, cutout_or_404(request, cutout_id)))


@workspace_page
@require_POST
def cutout_refine_json(request: HttpRequest, cutout_id: str) -> HttpResponse:
    cutout = cutout_or_404(request, cutout_id)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return _error(engine.InvalidOption("The body is not valid JSON.", field="hints"))
    try:
        if not isinstance(body, dict) or "hints" not in body:
            raise engine.InvalidOption(
                'Send a JSON object with the complete hint list: {"hints": [...]}.', field="hints"
            )
        given = {k: v for k, v in body.items() if k in engine.OPTION_SPECS and k != "pipeline"}
        options = engine.options_from_dict({**(cutout.options or {}), **given})
        refined = cutout_refine(
            cutout=cutout, hints=body["hints"], options=options, user=current_user(request)
        )
    except (engine.EngineError, CutoutError) as exc:
        return _error(exc)
    return JsonResponse(editor_state(request, refined))
