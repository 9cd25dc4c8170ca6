"""The native API: cutouts (sync and async), jobs, account, models, idempotency, errors."""

from __future__ import annotations

import base64
import logging

import requests
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.models import LedgerEntry
from cutout.api import native
from cutout.models import Cutout
from tests.factories import balance, make_caller

from .images import image_bytes, open_image

CUTOUTS = "/api/v1/cutouts"


def auth(caller) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {caller.secret}"}


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:400]
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code and body["error"]["message"]
    assert body["error"]["request_id"] == response["X-Request-ID"]
    return body["error"]


def test_create_sync_then_get(client, caller) -> None:
    r = client.post(
        CUTOUTS,
        {"image": SimpleUploadedFile("cat.png", image_bytes(160, 120, "PNG")), "mode": "crop"},
        **auth(caller),
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["object"] == "cutout" and body["status"] == "succeeded"
    assert body["credits_charged"] == 1 and r["X-Credits-Charged"] == "1"
    assert r["X-Credits-Remaining"] == "9" and r["Location"] == f"/api/v1/cutouts/{body['id']}"
    assert body["input"] == {
        "name": "cat.png",
        "bytes": len(image_bytes(160, 120, "PNG")),
        "sha256": body["input"]["sha256"],
        "width": 160,
        "height": 120,
    }
    assert body["options"]["crop"] is True and body["options"]["pipeline"] == "fast"
    result = body["result"]
    assert result["content_type"] == "image/png" and result["width"] < 160
    assert result["url"].startswith("http://testserver/files/")
    downloaded = client.get(result["url"].removeprefix("http://testserver"))
    image = open_image(b"".join(downloaded.streaming_content))
    assert image.size == (result["width"], result["height"])

    again = client.get(f"{CUTOUTS}/{body['id']}", **auth(caller))
    assert again.status_code == 200 and again.json()["id"] == body["id"]


def test_other_workspaces_and_bad_ids_are_404(client, caller) -> None:
    other = make_caller()
    theirs = Cutout.objects.create(workspace=other.workspace, input_sha256="0" * 64)
    error_of(client.get(f"{CUTOUTS}/{theirs.pk}", **auth(caller)), 404, "not_found")
    error_of(client.get(f"{CUTOUTS}/not-a-uuid", **auth(caller)), 404, "not_found")
    error_of(client.get(f"/api/v1/jobs/{theirs.pk}", **auth(caller)), 404, "not_found")
    error_of(client.get("/api/v1/nothing/here", **auth(caller)), 404, "not_found")


def test_json_body_with_base64_and_options(client, caller) -> None:
    r = client.post(
        CUTOUTS,
        {
            "image_b64": base64.b64encode(image_bytes(160, 120)).decode(),
            "mode": "background",
            "bg_color": "#00ff00",
            "format": "jpeg",
            "size": "64",
        },
        content_type="application/json",
        **auth(caller),
    )
    assert r.status_code == 201, r.content
    result = r.json()["result"]
    assert result["content_type"] == "image/jpeg" and max(result["width"], result["height"]) == 64


def test_idempotency_key_retries_are_safe(client, caller) -> None:
    data = image_bytes(160, 120)
    headers = {**auth(caller), "HTTP_IDEMPOTENCY_KEY": "order-42"}
    first = client.post(CUTOUTS, {"image": SimpleUploadedFile("a.jpg", data)}, **headers)
    second = client.post(CUTOUTS, {"image": SimpleUploadedFile("a.jpg", data)}, **headers)
    assert first.status_code == 201 and second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"
    assert first.json()["id"] == second.json()["id"]
    assert LedgerEntry.objects.filter(kind="debit").count() == 1 and balance(caller.workspace) == 9
    other = client.post(
        CUTOUTS, {"image": SimpleUploadedFile("b.png", image_bytes(160, 120, "PNG"))}, **headers
    )
    assert "Idempotency-Key" in error_of(other, 409, "conflict")["message"]


def test_a_replayed_answer_reports_no_new_charge(client, caller) -> None:
    """X-Credits-Charged tells what *this* request cost: a client adding it up must not count
    a retry twice. The cutout itself still says it cost one credit."""
    data = image_bytes(160, 120)
    headers = {**auth(caller), "HTTP_IDEMPOTENCY_KEY": "retry-me"}
    first = client.post(CUTOUTS, {"image": SimpleUploadedFile("a.jpg", data)}, **headers)
    second = client.post(CUTOUTS, {"image": SimpleUploadedFile("a.jpg", data)}, **headers)
    assert first["X-Credits-Charged"] == "1" and second["X-Credits-Charged"] == "0"
    assert second["Idempotent-Replayed"] == "true" and second.json()["credits_charged"] == 1
    assert first["X-Credits-Remaining"] == second["X-Credits-Remaining"] == "9"
    # Every dialect answers a replay the same way (remove.bg's header here).
    rb = {"HTTP_X_API_KEY": caller.secret, "HTTP_IDEMPOTENCY_KEY": "rb-retry"}
    png = image_bytes(160, 120, "PNG")
    charged = [
        client.post(
            "/v1.0/removebg",
            {"image_file": SimpleUploadedFile("b.png", png), "size": "full"},
            **rb,
        )["X-Credits-Charged"]
        for _ in range(2)
    ]
    assert charged == ["1", "0"] and balance(caller.workspace) == 8


def test_identical_request_without_key_is_free(client, caller) -> None:
    data = image_bytes(160, 120)
    first = client.post(CUTOUTS, {"image": SimpleUploadedFile("a.jpg", data)}, **auth(caller))
    second = client.post(CUTOUTS, {"image": SimpleUploadedFile("a.jpg", data)}, **auth(caller))
    assert second.status_code == 201 and second.json()["id"] != first.json()["id"]
    assert second["X-Credits-Charged"] == "0" and second.json()["metadata"]["dedup_of"]
    assert balance(caller.workspace) == 9


def test_async_returns_a_job_to_poll(
    client, caller, eager, django_capture_on_commit_callbacks
) -> None:
    files = [
        SimpleUploadedFile("one.jpg", image_bytes(160, 120, seed=1)),
        SimpleUploadedFile("two.jpg", image_bytes(160, 120, seed=2)),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(f"{CUTOUTS}?async=true", {"image": files, "format": "webp"}, **auth(caller))
    assert r.status_code == 202, r.content
    job = r.json()
    assert job["object"] == "job" and job["progress"]["total"] == 2
    polled = client.get(r["Location"], **auth(caller)).json()
    assert polled["status"] == "done" and polled["progress"]["finished"]
    assert [item["name"] for item in polled["items"]] == ["one.jpg", "two.jpg"]
    for item in polled["items"]:
        assert item["status"] == "done" and item["cutout"]["result"]["content_type"] == "image/webp"
    assert balance(caller.workspace) == 8


def test_account_and_models(client, caller) -> None:
    client.post(CUTOUTS, {"image": SimpleUploadedFile("a.jpg", image_bytes())}, **auth(caller))
    client.post(CUTOUTS, {"image": SimpleUploadedFile("b.jpg", b"junk")}, **auth(caller))
    account = client.get("/api/v1/account", HTTP_X_API_KEY=caller.secret).json()
    assert account["credits"] == {"balance": 9, "reserved": 0, "available": 9}
    assert account["workspace"]["slug"] == caller.workspace.slug
    assert account["api_key"]["prefix"] == caller.api_key.prefix
    assert account["api_key"]["month_credits_used"] == 1
    assert account["usage"]["this_month"] == {"cutouts": 1, "failed": 0, "credits_charged": 1}
    models = client.get("/api/v1/models", **auth(caller)).json()
    assert {p["name"] for p in models["pipelines"]} == {"fast", "balanced", "best"}
    assert models["default_pipeline"] == "fast"
    assert {m["name"] for m in models["models"]} >= {"u2netp", "u2net", "isnet"}


def test_input_errors(client, caller) -> None:
    error_of(client.post(CUTOUTS, {}, **auth(caller)), 400, "missing_image")
    error_of(
        client.post(CUTOUTS, {"image": SimpleUploadedFile("a.jpg", b"junk")}, **auth(caller)),
        400,
        "invalid_image",
    )
    err = error_of(
        client.post(
            CUTOUTS,
            {"image": SimpleUploadedFile("a.jpg", image_bytes()), "mode": "sepia"},
            **auth(caller),
        ),
        400,
        "invalid_parameter",
    )
    assert err["field"] == "mode"
    error_of(
        client.post(
            CUTOUTS,
            {"image": [SimpleUploadedFile("a.jpg", image_bytes())] * 2},
            **auth(caller),
        ),
        400,
        "multiple_images",
    )
    error_of(
        client.post(CUTOUTS, b"{not json", content_type="application/json", **auth(caller)),
        400,
        "invalid_parameter",
    )
    error_of(
        client.post(
            CUTOUTS,
            {"image_url": "http://localhost/a.png"},
            content_type="application/json",
            **auth(caller),
        ),
        400,
        "fetch_failed",
    )
    error_of(client.put(CUTOUTS, **auth(caller)), 405, "method_not_allowed")
    error_of(client.get("/api/v1/account"), 401, "unauthenticated")
    broke = make_caller(credits=0)
    error_of(
        client.post(CUTOUTS, {"image": SimpleUploadedFile("a.jpg", image_bytes())}, **auth(broke)),
        402,
        "insufficient_credits",
    )
    assert balance(caller.workspace) == 10


def test_oversized_body_is_refused_unread(client, caller, settings) -> None:
    settings.CUTOUT_MAX_UPLOAD_BYTES = 1000
    big = image_bytes(400, 300, "PNG")
    assert len(big) > 4000
    error_of(
        client.post(CUTOUTS, {"image": SimpleUploadedFile("a.png", big)}, **auth(caller)),
        400,
        "file_too_large",
    )


def test_unexpected_exception_is_a_logged_json_500(host, live_caller, monkeypatch, caplog) -> None:
    monkeypatch.setattr(native.selectors, "usage_summary", lambda **kw: 1 / 0)
    with caplog.at_level(logging.ERROR, logger="cutout.api"):
        r = requests.get(
            f"{host}/api/v1/account", headers={"X-Api-Key": live_caller.secret}, timeout=30
        )
    error = r.json()["error"]
    assert r.status_code == 500 and error["code"] == "internal"
    assert error["request_id"] in error["message"] and "Traceback" not in r.text
    logged = [rec for rec in caplog.records if rec.name == "cutout.api"]
    assert logged and logged[0].exc_info and error["request_id"] in logged[0].getMessage()


def test_openapi_document_is_valid_and_docs_render(client) -> None:
    from openapi_spec_validator import validate

    doc = client.get("/api/openapi.json").json()
    validate(doc)
    native = {path for path in doc["paths"] if path.startswith("/api/v1/")}
    assert native == {
        "/api/v1/cutouts",
        "/api/v1/cutouts/{cutout_id}",
        "/api/v1/cutouts/{cutout_id}/refine",
        "/api/v1/jobs/{job_id}",
        "/api/v1/account",
        "/api/v1/models",
    }
    # Every dialect's endpoints, each with its own key scheme and error shape.
    for path in (
        "/v1.0/removebg",
        "/api/cutout/general/universal-background-removal",
        "/api/common/query-credits",
        "/v1/results",
        "/v1/remove",
        "/api/v2/remove-background",
        "/v1/segment",
        "/remove-background/v1",
    ):
        assert "default" in next(iter(doc["paths"][path].values()))["responses"], path
    # Each API's summary is a tag, and each of its operations carries a copy-paste call with
    # this server's host (what /api/docs shows).
    assert {tag["name"] for tag in doc["tags"]} >= {"remove.bg", "Pixian", "Clipdrop"}
    pixian = doc["paths"]["/api/v2/remove-background"]["post"]
    call = pixian["x-codeSamples"][0]["source"]
    assert call.startswith("curl http://testserver/api/v2/remove-background -u xyz123:$KEY")
    assert call in pixian["description"]
    assert doc["paths"]["/api/v1/cutouts"]["post"]["tags"] == ["Cutout API (native)"]
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert "script-src 'self';" in page["Content-Security-Policy"]
    html = page.content.decode()
    assert 'data-spec="/api/openapi.json"' in html and "swagger-ui-bundle" in html
    assert "cdn" not in html.lower() and '<script src="http' not in html  # our own files only
    assert "<script>" not in html and "<style" not in html  # nothing inline (the policy)


def test_trailing_slashes_and_head(client, caller) -> None:
    r = client.post("/v1.0/removebg/", {}, HTTP_X_API_KEY=caller.secret)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "missing_source"
    r = client.post(
        "/api/cutout/general/food-background-removal/", {}, HTTP_AILABAPI_API_KEY=caller.secret
    )
    assert r.status_code == 400 and r.json()["error_detail"]["code"] == "MISSING_PARAMETERS"
    assert client.head("/v1/version").status_code == 200
    assert client.head("/api/v1/models", **auth(caller)).status_code == 200
    assert client.get(f"/api/v1/cutouts/{caller.api_key.pk}/", **auth(caller)).status_code == 404


def test_a_background_picture_under_the_subject(client, caller) -> None:
    """bg_image (a file), bg_image_url or bg_image_b64: scaled to cover, under the subject."""
    import base64 as b64module
    import io as iomodule

    from PIL import Image as PILImage

    out = iomodule.BytesIO()
    PILImage.new("RGB", (32, 24), (0, 0, 255)).save(out, "PNG")
    blue = out.getvalue()
    photo = SimpleUploadedFile("a.jpg", image_bytes(160, 120))
    r = client.post(
        CUTOUTS, {"image": photo, "bg_image": SimpleUploadedFile("bg.png", blue)}, **auth(caller)
    )
    assert r.status_code == 201, r.content[:300]
    assert r.json()["options"]["bg_image"].startswith("sha256:")
    r = client.post(
        CUTOUTS,
        {"image_b64": b64module.b64encode(image_bytes(160, 120)).decode(),
         "bg_image_b64": b64module.b64encode(blue).decode(), "format": "jpeg"},
        content_type="application/json",
        **auth(caller),
    )  # fmt: skip
    assert r.status_code in (200, 201), r.content[:300]
    photo = SimpleUploadedFile("a.jpg", image_bytes(160, 120))
    r = client.post(
        CUTOUTS,
        {"image": photo, "bg_image_b64": "AAAA", "bg_image_url": "http://x/y.png"},
        **auth(caller),
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_parameter"
