"""Chunked request bodies are read (issue 17, item 13): a body sent with ``Transfer-Encoding:
chunked`` and no ``Content-Length`` reaches the view whole, through the site's WSGI application
(:mod:`cutout.wsgi`, :class:`cutout.chunked.ChunkedBodies`), as gunicorn hands it over: chunks
already decoded, ``wsgi.input_terminated`` set. Without the wrapper Django reads it as empty
(the first test shows it: "missing image", nothing charged, nothing done)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from cutout import chunked, gunicorn_conf
from cutout.wsgi import application
from tests.api.images import image_bytes
from tests.factories import Caller, balance

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Iterator[None]:
    """As Django's test client does: the request must not close the test's connection."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def _chunked_environ(caller: Caller, body: bytes, *, terminated: bool = True) -> dict[str, Any]:
    environ = dict(
        RequestFactory()
        .post("/v1.0/removebg", {}, content_type=MULTIPART_CONTENT, HTTP_X_API_KEY=caller.secret)
        .environ
    )
    del environ["CONTENT_LENGTH"]
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    environ["wsgi.input"] = io.BytesIO(body)
    environ["wsgi.input_terminated"] = terminated
    return environ


def _call(app: Callable[..., Any], environ: dict[str, Any]) -> tuple[int, bytes]:
    started: list[str] = []
    result = app(environ, lambda status, headers, exc_info=None: started.append(status))
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return int(started[0].split()[0]), body


def _image_body() -> bytes:
    return encode_multipart(BOUNDARY, {"image_file": io.BytesIO(image_bytes()), "size": "full"})


def test_without_the_wrapper_django_reads_a_chunked_body_as_empty(caller: Caller) -> None:
    status, body = _call(WSGIHandler(), _chunked_environ(caller, _image_body()))
    assert status == 400 and b"missing" in body.lower()
    assert balance(caller.workspace) == 10


def test_a_chunked_upload_is_read_whole_and_charged_once(caller: Caller) -> None:
    status, body = _call(application, _chunked_environ(caller, _image_body()))
    assert status == 200, body[:300]
    assert body.startswith(b"\x89PNG")
    assert balance(caller.workspace) == 9


def test_a_chunked_body_the_server_did_not_frame_is_a_411(caller: Caller) -> None:
    environ = _chunked_environ(caller, _image_body(), terminated=False)
    status, _body = _call(application, environ)
    assert status == 411
    assert balance(caller.workspace) == 10


def test_a_chunked_body_over_the_bound_is_a_413(caller: Caller, monkeypatch) -> None:
    body = _image_body()
    monkeypatch.setattr(gunicorn_conf, "MAX_BODY_BYTES", len(body) - 1)
    status, _ = _call(chunked.ChunkedBodies(WSGIHandler()), _chunked_environ(caller, body))
    assert status == 413
    assert balance(caller.workspace) == 10
