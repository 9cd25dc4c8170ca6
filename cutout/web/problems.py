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

from billing.errors import InsufficientCredits
from cutout import engine
from cutout.errors import RETRY_AFTER_S, UNEXPECTED, meaning_of

R = TypeVar("R", bound=HttpResponse)

# A file whose data ends early is damaged, not of an unsupported kind: it says so (the API keeps
# the engine's code, ``invalid_image``, for it).
_DAMAGED = (
    "The file ends early, so it looks damaged or only partly downloaded. Open it on your "
    "computer and save it again, or upload another copy. Nothing was charged."
)


@dataclass(frozen=True)
class Problem:
    status: int
    code: str
    title: str
    message: str
    action: tuple[str, str] | None = None  # (URL, label)
    offer: dict[str, Any] | None = None  # a batch too big for the credits: what can run now

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "title": self.title,
            "message": self.message,
            "charged": False,
        }
        if self.action:
            out["action_url"], out["action_label"] = self.action
        if self.offer:
            out["offer"] = self.offer
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


def sentence(text: str) -> str:
    """``text`` as a sentence (capital first, full stop last), so the next one does not run on
    from it: the engine's messages are clauses ("the file is empty")."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?…" else text + "."


def problem_for(exc: BaseException, *, batch: bool = False) -> Problem:
    """What the page shows for ``exc`` (an unexpected error: that processing failed).

    ``batch``: the upload was a batch, whose refusal for credits says what it needs and has."""
    if isinstance(exc, engine.TruncatedImage):
        return Problem(415, "damaged_file", "Damaged file", _DAMAGED)
    if batch and isinstance(exc, InsufficientCredits):
        return _credits_problem(exc)
    found = meaning_of(exc)
    own, meaning = found if found is not None else ("", UNEXPECTED)
    text = meaning.text.format(
        message=sentence(str(getattr(exc, "message", "") or exc)),
        max_upload=_mb(int(settings.CUTOUT_MAX_UPLOAD_BYTES)),
        max_megapixels=int(settings.CUTOUT_MAX_PIXELS) / 1_000_000,
    )
    action = None
    if meaning.action is not None:
        url_name, label = meaning.action
        action = (reverse(url_name), label)
    return Problem(meaning.status, meaning.page_code or own, meaning.title, text, action)


def _credits_problem(exc: InsufficientCredits) -> Problem:
    """A batch that needs more credits than there are: both figures, and what can run now."""
    needed, available = exc.needed, exc.available
    images = f"{needed} image{'s' if needed != 1 else ''}"
    has = "none" if available < 1 else f"only {available}"
    text = f"This batch of {images} needs {needed} credits; the workspace has {has}."
    offer = None
    if available >= 1:
        waiting = needed - available
        text += (
            f" You can process {available} now; the other {waiting} wait for credits and start "
            "by themselves once you buy more (or an admin adds some)."
        )
        offer = {
            "covered": available,
            "waiting": waiting,
            "label": f"Process {available} now, {waiting} wait for credits",
        }
    else:
        text += " Buy a credit pack (or ask an admin to add credits) and try again."
    return Problem(
        402,
        "no_credits",
        "Not enough credits",
        text + " Nothing was charged.",
        (reverse("billing"), "Buy credits"),
        offer,
    )
