"""What ``/api/docs`` shows beside the operations: each API's summary (the tag's description) and
a copy-paste call per operation, the vendor's own with the host changed where it is a dialect.

The one place for these facts: :mod:`~cutout.api.openapi.document` puts the summaries into
``tags`` and each call into its operation, both as ``x-codeSamples`` (which Redoc and other
renderers show) and as a fenced block in the description (which Swagger UI, our renderer, shows).
Every field, header and error in detail is in docs/api.md.
"""

from __future__ import annotations

from dataclasses import dataclass

HOST = "https://HOST"  # replaced with the server's own origin when the document is served


@dataclass(frozen=True)
class Api:
    tag: str  # the operations' tag (cutout.api.openapi.dialects.Op.tag; NATIVE for /api/v1)
    auth: str
    notes: str


NATIVE = "Cutout API (native)"

APIS: tuple[Api, ...] = (
    Api(
        NATIVE,
        "X-Api-Key",
        "One credit per successful cutout; failed requests and identical repeats (same image "
        "and options in the same workspace) cost nothing. Every engine option is a field of "
        "`POST /api/v1/cutouts` (see its request body). Errors are "
        '`{"error": {"code", "message", "field", "request_id"}}`.',
    ),
    Api(
        "remove.bg",
        "X-Api-Key",
        "`image_file`, `image_file_b64` or `image_url`; `size` (previews free), `type`, "
        "`type_level`, `format` (auto/png/jpg/webp/zip), `channels`, `roi`, `crop`, "
        "`crop_margin`, `scale`, `position`, `bg_color`, `bg_image_file`, `bg_image_url`, "
        "`shadow_type`, `shadow_opacity`, `semitransparency`. Image body (JSON when `Accept` "
        "prefers it); `X-Width`/`X-Height`/`X-Type`/`X-Foreground-*`/`X-Credits-Charged` headers "
        "(`X-Type` is always `other`: docs/api.md says why). Errors "
        '`{"errors": [{"title", "code"}]}`: 400 (remove.bg\'s codes, `unknown_foreground` '
        "included), 402, 403, 429.",
    ),
    Api(
        "AILabTools",
        "ailabapi-api-key",
        "Multipart `image` and `return_form` (mask, whiteBK, crop where allowed); JSON envelope "
        "with `error_code`, `error_detail` and `data.image_url` (signed, valid 24 hours). "
        "Limits: universal ≤ 3 MB, >32 and <2000 px per side, JPEG/BMP/WEBP/8-bit PNG; food "
        "≤ 4 MB, >40 and <1999 px, JPEG/BMP/PNG; commodity ≤ 3 MB, <2000 px, JPEG/BMP/8-bit PNG. "
        "Not enough credits: 429 `ERROR_NOT_ENOUGH_CREDITS`; rate limit: 503 "
        "`AI_SERVICE_FLOW_RESTRICTION` with `Retry-After`.",
    ),
    Api(
        "API4AI",
        "X-RapidAPI-Key or X-Api-Key",
        "Multipart `image` or `url`; `results[].entities[].image` is a base64 PNG (also "
        "`GET /v1/version` and `GET /v1/modes`). An image that cannot be processed is a 200 with "
        "`status.code` failure; over 32 MB is 413; neither image nor url is 422 "
        '`{"detail": "Missing image or url field."}`. JPEG/PNG, < 16 MB, ≤ 4096x4096. Key-less '
        "calls (with `CUTOUT_API4AI_ANONYMOUS_KEY`) have their own rate limit and monthly cap.",
    ),
    Api(
        "poof.bg (seed 004)",
        "x-api-key",
        "Multipart `image_file` (or `image`); `format` png/jpg/webp, `channels` rgba/rgb, "
        "`bg_color`, `size` full/preview/small/medium/large, `crop`. Answers with the image and "
        "`X-Processing-Time-Ms`, `X-Image-Width`, `X-Image-Height`. Errors "
        '`{"code", "message", "details", "request_id"}`: 400 `validation_error` / '
        "`missing_image` / `image_too_large`, 401 `authentication_error`, 402 "
        "`payment_required`, 429 `rate_limit_exceeded`, 503 `service_unavailable`.",
    ),
    Api(
        "Pixian",
        "HTTP Basic: any id, the key as the secret",
        "`image`, `image.url` or `image.base64`; `test` (free, watermarked), `max_pixels`, "
        "`background.color`, `result.crop_to_foreground`, `result.margin`, `output.format` "
        "(auto/png/jpeg), `output.jpeg_quality`. `X-Credits-Charged` (and "
        '`X-Credits-Calculated` in test mode). Errors `{"error": {"status", "code", "message"}}`.',
    ),
    Api(
        "Photoroom",
        "x-api-key",
        "`image_file`; `format` png/jpg/webp, `channels` rgba/alpha, `bg_color`, `size` "
        "preview (free)/medium/hd/full, `crop`, `despill` (accepted, no effect). "
        "`x-uncertainty-score` from our confidence. Errors "
        '`{"detail", "status_code", "type"}`.',
    ),
    Api(
        "Clipdrop",
        "x-api-key",
        "`image_file`; `transparency_handling`; the `Accept` header picks png (default), webp "
        'or jpg. `x-credits-consumed`, `x-remaining-credits`. Errors `{"error": "..."}`.',
    ),
)

# (method, path) -> the call. Dialects: the vendor's own example with only the host changed.
SAMPLES: dict[tuple[str, str], str] = {
    ("post", "/api/v1/cutouts"): 'curl -H "Authorization: Bearer $CUTOUT_KEY" \\\n'
    "     -F image=@photo.jpg -F mode=transparent -F format=png \\\n"
    f"     {HOST}/api/v1/cutouts",
    ("get", "/api/v1/account"): f'curl -H "X-Api-Key: $CUTOUT_KEY" {HOST}/api/v1/account',
    ("get", "/api/v1/models"): f'curl -H "X-Api-Key: $CUTOUT_KEY" {HOST}/api/v1/models',
    ("post", "/v1.0/removebg"): 'curl -H "X-API-Key: $KEY" -F image_file=@file.jpg -F size=auto '
    f"-f {HOST}/v1.0/removebg -o no-bg.png",
    ("get", "/v1.0/account"): f'curl -H "X-API-Key: $KEY" {HOST}/v1.0/account',
    **{
        ("post", f"/api/cutout/general/{name}-background-removal"): f"curl -X POST "
        f"{HOST}/api/cutout/general/{name}-background-removal "
        '-H "ailabapi-api-key: $KEY" -F image=@file.jpg -F return_form=whiteBK'
        for name in ("universal", "food", "commodity")
    },
    ("get", "/api/common/query-credits"): f"curl {HOST}/api/common/query-credits "
    '-H "ailabapi-api-key: $KEY"',
    ("post", "/v1/results"): f'curl -X POST "{HOST}/v1/results?mode=fg-image" '
    '-H "X-RapidAPI-Key: $KEY" -F image=@img.jpg',
    ("post", "/v1/remove"): f'curl -X POST {HOST}/v1/remove -H "x-api-key: $KEY" '
    "-F image_file=@photo.jpg -o result.png",
    ("post", "/v1/remove-background"): f'curl -X POST {HOST}/v1/remove-background -H "x-api-key: '
    '$KEY" -F image_file=@photo.jpg -o result.png',
    ("post", "/api/v2/remove-background"): f"curl {HOST}/api/v2/remove-background -u xyz123:$KEY "
    "-F image=@example.jpeg -o pixian_result.png",
    ("get", "/api/v2/account"): f"curl {HOST}/api/v2/account -u xyz123:$KEY",
    ("post", "/v1/segment"): f"curl --request POST --url {HOST}/v1/segment "
    '--header "x-api-key: $KEY" --form image_file=@image.jpg --output result.png',
    ("get", "/v1/account"): f'curl --url {HOST}/v1/account --header "x-api-key: $KEY"',
    ("post", "/remove-background/v1"): f'curl -X POST {HOST}/remove-background/v1 -H "x-api-key: '
    '$KEY" -H "Accept: image/webp" -F image_file=@car.jpg -o result.webp',
}
