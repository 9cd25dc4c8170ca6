"""One error type with a code, and one table that says what each code means to a caller.

Every error the Django side raises on purpose derives from :class:`CutoutError`: a stable
machine-readable ``code``, a ``message`` for people and, where it is about one input, the
``field``. The engine (:class:`cutout.engine.EngineError`) and billing
(:class:`billing.errors.BillingError`) keep bases of their own, of the same shape, so that neither
depends on this package; their codes are in the same table.

:data:`ERRORS` maps a code, once, to what every caller shows: the API's canonical kind (each API
dialect turns a kind into its own status and envelope, see :mod:`cutout.api.errors`) and the web
page's status, code, title and text (see :mod:`cutout.web.problems`). A code missing from the
table is an unexpected failure: a 500 that says nothing was charged.

An outage of a dependency is not a bug: :func:`outage_code` recognises the database, storage and
broker failing (by the exception's type, or any in its chain), and such an error means the
``*_unavailable`` rows: a 503 with ``Retry-After`` (:data:`RETRY_AFTER_S`) everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

from billing.errors import BillingError
from cutout.engine.errors import EngineError


class CutoutError(Exception):
    """Base class. ``code`` is stable; ``message`` is for people; ``field`` names an input."""

    code = "cutout_error"
    field: str | None = None

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if field is not None:
            self.field = field


@dataclass(frozen=True)
class Meaning:
    """What one error code means to the API and to the web pages."""

    api_kind: str  # a kind of cutout.api.errors.KINDS
    status: int  # the web page's HTTP status
    title: str  # the web page's heading
    text: str = "{message}"  # the page's text; {message}, {max_upload}, {max_megapixels}
    page_code: str = ""  # the code the page reports (default: the error's own code)
    action: tuple[str, str] | None = None  # (URL name, label) of the page's way out
    api_message: str = ""  # replaces the error's message in API answers


# The error's own words are the whole story (the engine names what it reads; the fetcher what
# went wrong with the URL): the page adds only that it cost nothing.
_AS_SAID = "{message} Nothing was charged."
_NO_CREDITS = (
    "Each cutout costs one credit and this workspace has none left. Buy a credit pack "
    "(or ask an admin to add credits) and try again. Nothing was charged."
)
_FAILED = (
    "Something went wrong while removing the background. You were not charged; please try again."
)
_UNAVAILABLE = "The service cannot process images right now; try again later."
_OUTAGE = (
    "Part of the service is unavailable right now. Nothing was charged; please try again in a "
    "minute."
)

# code -> meaning. A class's own code stands for its family (``engine_error``, ``fetch_failed``,
# ``batch_refused``): an error whose code is not listed is looked up by its classes' codes.
ERRORS: dict[str, Meaning] = {
    # The engine (cutout.engine.errors)
    "engine_error": Meaning(
        "invalid_image", 500, "Processing failed", _FAILED, "processing_failed"
    ),
    "invalid_image": Meaning(
        "invalid_image", 415, "Unsupported file", _AS_SAID, "unsupported_file"
    ),
    "unsupported_format": Meaning(
        "unsupported_format", 415, "Unsupported file", _AS_SAID, "unsupported_file"
    ),
    "image_too_large": Meaning(
        "file_too_large",
        413,
        "File too big",
        "Files can be at most {max_upload}. Nothing was charged.",
        "file_too_big",
    ),
    "too_many_pixels": Meaning(
        "image_too_large",
        413,
        "Image too large",
        "Images can have at most {max_megapixels:g} megapixels. Scale it down and try again. "
        "Nothing was charged.",
        "file_too_big",
    ),
    "image_too_small": Meaning("image_too_small", 400, "Image too small"),
    "unknown_foreground": Meaning(
        "unknown_foreground",
        422,
        "No subject found",
        "{message} Try a photo with a clear subject (a person, a product, an animal). "
        "Nothing was charged.",
    ),
    "invalid_option": Meaning("invalid_parameter", 400, "Invalid option"),
    "model_missing": Meaning(
        "unavailable",
        500,
        "Processing failed",
        _FAILED,
        "processing_failed",
        api_message=_UNAVAILABLE,
    ),
    # Billing (billing.errors)
    "insufficient_credits": Meaning(
        "insufficient_credits",
        402,
        "You're out of credits",
        _NO_CREDITS,
        "no_credits",
        action=("billing", "Buy credits"),
    ),
    "monthly_cap_exceeded": Meaning("monthly_cap_exceeded", 402, "Monthly cap reached"),
    # Idempotency keys (cutout.cutouts.services)
    "in_progress": Meaning("conflict", 409, "Still processing"),
    "idempotency_key_reused": Meaning("conflict", 409, "Request already made"),
    # Guided refinement (cutout.cutouts.refine)
    "not_editable": Meaning("conflict", 409, "This cutout cannot be refined"),
    # Batches (cutout.jobs.intake): every refusal keeps its own code on the page
    "batch_refused": Meaning("invalid_parameter", 400, "Batch not accepted"),
    # Images fetched from a URL (cutout.files.remote)
    "fetch_failed": Meaning("fetch_failed", 400, "Image not fetched", _AS_SAID),
    "too_large": Meaning("file_too_large", 400, "Image not fetched", _AS_SAID),
    "bad_content_type": Meaning("unsupported_format", 400, "Image not fetched", _AS_SAID),
    # Webhook endpoints (cutout.webhooks.services)
    "webhook_url_refused": Meaning("invalid_parameter", 400, "Webhook URL not allowed"),
    # A storage or network outage (cutout.jobs.processing)
    "storage_error": Meaning("unavailable", 503, "Try again later", _UNAVAILABLE),
    # A dependency that is down (see outage_code): 503 with Retry-After, nothing charged
    "database_unavailable": Meaning(
        "unavailable", 503, "Try again later", _OUTAGE, api_message=_OUTAGE
    ),
    "storage_unavailable": Meaning(
        "unavailable", 503, "Try again later", _OUTAGE, api_message=_OUTAGE
    ),
    "broker_unavailable": Meaning(
        "unavailable", 503, "Try again later", _OUTAGE, api_message=_OUTAGE
    ),
}

# Seconds a client is told to wait (``Retry-After``) when a dependency is down.
RETRY_AFTER_S = 30

# What any other failure is: an unexpected error, which never charges.
UNEXPECTED = Meaning("internal", 500, "Processing failed", _FAILED, "processing_failed")


def _outage_one(exc: BaseException) -> str | None:
    if isinstance(exc, OperationalError | InterfaceError):
        return "database_unavailable"
    if isinstance(exc, BrokerError):
        return "broker_unavailable"
    if isinstance(exc, BotoCoreError | ClientError):
        return "storage_unavailable"
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
        # A disk that is full, read-only or not ours to write (local storage); sockets too.
        return "storage_unavailable"
    return None


def outage_code(exc: BaseException) -> str | None:
    """``database_unavailable``, ``storage_unavailable`` or ``broker_unavailable`` when ``exc``
    (or an exception it was raised from) says a dependency is down; None otherwise.

    One of our own errors says what it is (a bad image stays a bad image) and is never an outage.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, CutoutError | EngineError | BillingError):
            return None
        code = _outage_one(current)
        if code is not None:
            return code
        current = current.__cause__ or current.__context__
    return None


def meaning_of(exc: BaseException) -> tuple[str, Meaning] | None:
    """The code and meaning of one of our errors or of an outage; None for any other exception.

    The error's own code first, then the codes of its classes (most specific first), so a
    subclass without a row of its own means what its family means.
    """
    if not isinstance(exc, CutoutError | EngineError | BillingError):
        outage = outage_code(exc)
        return (outage, ERRORS[outage]) if outage is not None else None
    own = str(getattr(exc, "code", "") or "")
    candidates = [
        own,
        *(str(cls.__dict__["code"]) for cls in type(exc).__mro__ if "code" in cls.__dict__),
    ]
    for code in candidates:
        if code in ERRORS:
            return own or code, ERRORS[code]
    return None
