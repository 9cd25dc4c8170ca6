"""What every API dialect shares: the view wrapper, input reading and image checks.

A dialect is a small object that knows its auth headers and how to write an error. The
:func:`api_view` wrapper gives every endpoint the same life cycle:

method check → body size check → API key → rate limit → view → (any error → the dialect's error)
→ rate-limit headers. Nothing escapes as an HTML page or a traceback: unexpected exceptions are
logged with the request id and answered as the dialect's 500.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.datastructures import MultiValueDict
from django.views.decorators.csrf import csrf_exempt
from PIL import Image, UnidentifiedImageError

from accounts.models import ApiKey
from billing.selectors import balance_for
from cutout import engine
from cutout.api import ratelimit
from cutout.api.auth import authenticate, presented_key
from cutout.api.errors import ApiError, from_exception
from cutout.cutouts.engine_settings import engine_limits
from cutout.cutouts.services import cutout_create
from cutout.errors import RETRY_AFTER_S
from cutout.files.remote import fetch_image
from cutout.jsonbody import JsonBodyError, json_body
from cutout.logging import current_request_id
from cutout.models import Source

logger = logging.getLogger("cutout.api")

View = TypeVar("View", bound=Callable[..., HttpResponse])

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class Dialect:
    """Base class: subclasses set ``name`` and ``auth_headers`` and write their errors."""

    name = "native"
    auth_headers: Sequence[str] = ("X-Api-Key",)
    # A setting naming the key (by prefix) that calls without any key may use; "" for none.
    anonymous_setting = ""

    def max_request_bytes(self) -> int:
        """Bodies declared larger than this are refused before they are read."""
        return int(settings.CUTOUT_MAX_UPLOAD_BYTES) * 2 + 1024 * 1024

    def error_response(self, request: HttpRequest, error: ApiError) -> HttpResponse:
        raise NotImplementedError


def api_workspace_key(request: HttpRequest) -> ApiKey:
    return cast(ApiKey, request.api_key)  # type: ignore[attr-defined]


# Fields that carry the image, in any dialect: each may be sent once (a second copy would be
# processed silently instead of the first, and charged).
SOURCE_FIELDS = ("image", "image_file", "image_url", "image_file_b64", "image_b64", "url")


def refuse_duplicate_sources(request: HttpRequest, *, many_files: bool = False) -> None:
    """``multiple_images`` when an image field comes more than once (files only with
    ``many_files``: the native API's batches send several ``image`` files on purpose)."""
    if request.method != "POST" or (request.content_type or "") == "application/json":
        return
    for name in SOURCE_FIELDS:
        files = len(request.FILES.getlist(name))
        values = len(request.POST.getlist(name))
        if (files > 1 and not many_files) or values > 1 or (files and values):
            raise ApiError(
                "multiple_images",
                f"The field {name!r} was sent more than once: send exactly one image.",
                field=name,
            )


def api_view(
    dialect: Dialect,
    *,
    methods: Sequence[str] = ("POST",),
    auth: bool = True,
    many_files: bool = False,
) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            limit: ratelimit.RateLimit | None = None
            allowed = (*methods, "HEAD") if "GET" in methods else tuple(methods)
            try:
                if request.method not in allowed:
                    raise ApiError(
                        "method_not_allowed",
                        f"Method {request.method} is not allowed here; use {', '.join(methods)}.",
                    )
                declared = request.META.get("CONTENT_LENGTH") or ""
                if declared.isdigit() and int(declared) > dialect.max_request_bytes():
                    raise ApiError("request_too_large", "The request body is too large.")
                if auth:
                    api_key = authenticate(
                        request, dialect.auth_headers, anonymous_setting=dialect.anonymous_setting
                    )
                    request.api_key = api_key  # type: ignore[attr-defined]
                    limit = _anonymous_limit(request, dialect, api_key)
                    if limit is None:
                        limit = ratelimit.hit(api_key.prefix)
                    if limit is not None and not limit.allowed:
                        raise ApiError(
                            "rate_limited",
                            f"Too many requests: {limit.limit} per "
                            f"{ratelimit.limits()[1]} s for this API key; "
                            f"retry in {limit.retry_after} s.",
                        )
                refuse_duplicate_sources(request, many_files=many_files)
                response = view(request, *args, **kwargs)
            except Exception as exc:
                response = error_response(dialect, request, exc)
            if limit is not None:
                limit.apply(response)
            return response

        return cast(View, csrf_exempt(wrapper))

    return decorate


def _anonymous_limit(
    request: HttpRequest, dialect: Dialect, api_key: ApiKey
) -> ratelimit.RateLimit | None:
    """For a key-less call served by the dialect's anonymous key: its own rate limit
    (``<setting>_RATE_LIMIT`` per window) and monthly cap (``<setting>_MONTHLY_CAP`` requests),
    apart from the key's, so key-less callers cannot use up what the key's owner allowed itself.
    None for every other call."""
    setting = dialect.anonymous_setting
    if not setting or presented_key(request, dialect.auth_headers):
        return None
    base = setting.removesuffix("_KEY")
    cap = int(getattr(settings, f"{base}_MONTHLY_CAP", 0) or 0)
    if cap > 0 and not ratelimit.monthly_hit(f"anonymous:{api_key.prefix}", cap):
        raise ApiError(
            "monthly_cap_exceeded",
            f"Calls without an API key reached this month's cap ({cap}); send an API key.",
        )
    rate = int(getattr(settings, f"{base}_RATE_LIMIT", 0) or 0)
    return ratelimit.hit(f"anonymous:{api_key.prefix}", limit=rate) if rate > 0 else None


def error_response(dialect: Dialect, request: HttpRequest, exc: BaseException) -> HttpResponse:
    """The dialect's answer for any exception, logging what was not expected."""
    error = from_exception(exc)
    if error is None:
        if isinstance(exc, RequestDataTooBig):
            error = ApiError("file_too_large", "The uploaded data is too large.")
        elif isinstance(exc, TooManyFilesSent | TooManyFieldsSent | MultiPartParserError):
            error = ApiError("invalid_parameter", f"The request body could not be read: {exc}")
        else:
            logger.exception(
                "unexpected error in %s %s (request %s)",
                request.method,
                request.path,
                current_request_id(),
            )
            error = ApiError(
                "internal",
                f"Internal server error; retry later. Request id: {current_request_id()}",
            )
    elif error.kind in ("unavailable",):
        logger.error("service unavailable: %r (request %s)", exc, current_request_id())
    response = dialect.error_response(request, error)
    if error.kind == "unavailable":
        response["Retry-After"] = str(RETRY_AFTER_S)
    return response


# ---------------------------------------------------------------------------------------------
# Reading input


def request_params(request: HttpRequest) -> tuple[dict[str, Any], MultiValueDict[str, Any]]:
    """The request's fields (form data, or a JSON object body) and its uploaded files."""
    if (request.content_type or "") == "application/json":
        try:
            body = json_body(
                request.body or b"{}", max_bytes=int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
            )
        except JsonBodyError as exc:
            raise ApiError("invalid_parameter", exc.message) from None
        if not isinstance(body, dict):
            raise ApiError("invalid_parameter", "The JSON body must be an object.")
        return body, MultiValueDict()
    return {key: request.POST.get(key) for key in request.POST}, request.FILES


def parse_bool(value: Any, *, field: str) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ApiError("invalid_parameter", f"{field} must be true or false.", field=field)


def read_upload(upload: UploadedFile, *, max_bytes: int, what: str = "image") -> bytes:
    if upload.size is not None and upload.size > max_bytes:
        raise ApiError(
            "file_too_large",
            f"The {what} is {upload.size} bytes; the limit is {max_bytes} bytes "
            f"({max_bytes / 1024 / 1024:g} MB).",
        )
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError("file_too_large", f"The {what} is larger than {max_bytes} bytes.")
    return data


def decode_b64(value: str, *, max_bytes: int, field: str) -> bytes:
    text = value.strip()
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    if len(text) > (max_bytes * 4) // 3 + 8:
        raise ApiError("file_too_large", f"The image is larger than {max_bytes} bytes.")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=False)
    except (binascii.Error, ValueError):
        raise ApiError("invalid_image", f"{field} is not valid base64.", field=field) from None
    if not data:
        raise ApiError("invalid_image", f"{field} is empty.", field=field)
    if len(data) > max_bytes:
        raise ApiError("file_too_large", f"The image is larger than {max_bytes} bytes.")
    return data


def fetch_url(url: str, *, max_bytes: int) -> tuple[bytes, str]:
    """Image bytes and a file name from a caller's URL, behind the SSRF guard."""
    fetched = fetch_image(url, max_bytes=max_bytes)
    return fetched.data, fetched.filename


def fetch_background(url: str, *, field: str) -> bytes:
    """A background picture from a caller's URL (SSRF-guarded like the image); a failure is
    ``fetch_failed`` naming ``field``, so a dialect can tell it from the image's own."""
    try:
        return fetch_image(url, max_bytes=int(settings.CUTOUT_MAX_UPLOAD_BYTES)).data
    except Exception as exc:
        error = from_exception(exc)
        if error is None or error.kind not in (
            "fetch_failed",
            "file_too_large",
            "unsupported_format",
        ):
            raise
        raise ApiError(
            "fetch_failed", f"The background image was not fetched: {error.message}", field=field
        ) from None


def media_preference(accept: str, media: str) -> tuple[float, int]:
    """(q-value, specificity) that ``accept`` gives ``media`` from its most specific matching
    range: specificity 2 for the type itself, 1 for ``type/*``, 0 for ``*/*``, -1 for none."""
    kind = media.split("/", 1)[0]
    best, best_rank = 0.0, -1
    for part in accept.split(","):
        pieces = [p.strip() for p in part.split(";")]
        rng = pieces[0].lower()
        q = 1.0
        for param in pieces[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(value)))
                except ValueError:
                    q = 0.0
        rank = 2 if rng == media else 1 if rng == f"{kind}/*" else 0 if rng == "*/*" else -1
        if rank > best_rank:
            best, best_rank = q, rank
    return (best if best_rank >= 0 else 0.0), best_rank


def media_quality(accept: str, media: str) -> float:
    """The q-value ``accept`` gives ``media`` (0 if nothing matches)."""
    return media_preference(accept, media)[0]


def remaining_credits(request: HttpRequest) -> int:
    """The available credits of the authenticated key's workspace."""
    return int(balance_for(api_workspace_key(request).workspace).available)


def prefers_json(request: HttpRequest, images: Sequence[str] = ("image/png",)) -> bool:
    """Whether the request's ``Accept`` prefers JSON to every image type: a strictly higher
    q-value. ``*/*`` and ``image/*`` count for the image, so axios's default
    ``application/json, text/plain, */*`` is a tie, and a tie (or no Accept) gets the image."""
    accept = request.headers.get("Accept", "")
    if not accept.strip():
        return False
    json_q = media_quality(accept, "application/json")
    return json_q > 0 and json_q > max(media_quality(accept, m) for m in images)


@dataclass(frozen=True)
class ImageInfo:
    format: str  # Pillow's name: JPEG, PNG, BMP, WEBP, GIF, TIFF, ...
    width: int
    height: int
    bit_depth: int  # bits per sample (PNG reports 1..16; others 8)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def peek_image(data: bytes) -> ImageInfo:
    """Format and size from the header alone, without decoding pixels."""
    bit_depth = 8
    if data.startswith(PNG_SIGNATURE) and len(data) > 24 and data[12:16] == b"IHDR":
        bit_depth = data[24]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = (img.format or "").upper()
                width, height = img.size
    except Image.DecompressionBombError:
        raise ApiError("image_too_large", "The image has too many pixels.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        # Let the engine say precisely what is wrong (HEIC, PSD, PDF, truncated, empty...).
        engine.decode_image(data, engine_limits())
        raise ApiError("invalid_image", "The file is not a readable image.") from None
    if fmt == "MPO":  # multi-picture JPEG from phone cameras
        fmt = "JPEG"
    return ImageInfo(format=fmt, width=width, height=height, bit_depth=bit_depth)


def idempotency_key(request: HttpRequest) -> str | None:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return None
    if len(key) > 255:
        raise ApiError("invalid_parameter", "Idempotency-Key is longer than 255 characters.")
    return key


def run_cutout(
    request: HttpRequest,
    dialect: Dialect,
    *,
    data: bytes,
    options: Any,
    input_name: str = "",
    background: bytes | None = None,
    hints: Any = None,
    roi: str | None = None,
) -> Any:
    """Create the cutout for the authenticated key (a thin call into the service), under the
    request's ``Idempotency-Key`` if it sent one (on ``background``, a picture, if given);
    ``hints`` / ``roi`` refine it at once."""
    api_key = api_workspace_key(request)
    return cutout_create(
        workspace=api_key.workspace,
        data=data,
        options=options,
        api_key=api_key,
        source=Source.API,
        dialect=dialect.name,
        input_name=input_name[:255],
        idempotency_key=idempotency_key(request),
        background=background,
        hints=hints,
        roi=roi,
    )


def credit_headers(response: HttpResponse, cutout: Any) -> None:
    """``X-Credits-Charged`` (what *this* request cost) and ``X-Credits-Remaining``.

    An idempotent replay returns the earlier cutout but charges nothing now, so it says 0: a
    client that adds the header up must not count a retry twice.
    """
    replayed = bool(getattr(cutout, "replayed", False))
    response["X-Credits-Charged"] = "0" if replayed else str(cutout.credits_charged)
    response["X-Credits-Remaining"] = str(balance_for(cutout.workspace_id).available)
    if replayed:
        response["Idempotent-Replayed"] = "true"


def read_result(cutout: Any) -> bytes:
    with cutout.result.open("rb") as handle:
        return cast(bytes, handle.read())


def not_found_view(dialect: Dialect) -> Callable[..., HttpResponse]:
    """A catch-all for unknown paths under a dialect's prefix: its own 404, not an HTML page."""

    @api_view(dialect, methods=("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"), auth=False)
    def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
        raise ApiError("not_found", f"There is no API endpoint at {request.path}.")

    return not_found
