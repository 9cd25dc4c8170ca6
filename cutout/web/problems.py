"""Errors in the page's words: what an upload or a batch that went wrong shows.

The meaning of every error (its status, code, title and text) is in :data:`cutout.errors.ERRORS`,
the table the API reads too; this module only words it for the page. Nothing was charged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.urls import reverse

from cutout.errors import RETRY_AFTER_S, UNEXPECTED, meaning_of

R = TypeVar("R", bound=HttpResponse)


@dataclass(frozen=True)
class Problem:
    status: int
    code: str
    title: str
    message: str
    action: tuple[str, str] | None = None  # (URL, label)

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

    def response(self) -> JsonResponse:
        """The page script's JSON answer."""
        return self.apply(JsonResponse({"error": self.as_dict()}, status=self.status))

    def apply(self, response: R) -> R:
        """``response`` with the headers this problem calls for (``Retry-After`` on a 503)."""
        if self.status == 503:
            response["Retry-After"] = str(RETRY_AFTER_S)
        return response


def _mb(value: int) -> str:
    return f"{value / (1024 * 1024):.1f} MB"


def problem_for(exc: BaseException) -> Problem:
    """What the page shows for ``exc`` (an unexpected error: that processing failed)."""
    found = meaning_of(exc)
    own, meaning = found if found is not None else ("", UNEXPECTED)
    text = meaning.text.format(
        message=str(getattr(exc, "message", "") or exc),
        max_upload=_mb(int(settings.CUTOUT_MAX_UPLOAD_BYTES)),
        max_megapixels=int(settings.CUTOUT_MAX_PIXELS) / 1_000_000,
    )
    action = None
    if meaning.action is not None:
        url_name, label = meaning.action
        action = (reverse(url_name), label)
    return Problem(meaning.status, meaning.page_code or own, meaning.title, text, action)
