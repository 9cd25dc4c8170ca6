"""Chunked request bodies are read, not lost (issue 17, item 13).

Django reads a request body by its ``Content-Length``. A body sent with ``Transfer-Encoding:
chunked`` (``curl -T -``, HTTP clients that stream a generator) has none, so every view saw an
empty body: the API answered "missing image" for an image it had been sent, a JSON body was
"{}". :class:`ChunkedBodies` wraps the WSGI application (:mod:`cutout.wsgi`):

- when the server has decoded the chunks and says the input ends where the body ends
  (``wsgi.input_terminated``, which gunicorn sets), the body is read into a spooled temporary
  file (memory up to 1 MiB, then disk) and handed on with its real ``Content-Length``, so every
  view, every dialect and every size limit sees it exactly as if it had been sent with one;
- a body that grows past :data:`cutout.gunicorn_conf.MAX_BODY_BYTES` (the largest request the
  site takes, the bound gunicorn's worker applies too) is refused with ``413``;
- a server that cannot say where a chunked body ends gets ``411 Length Required``.

The two refusals are plain text: they happen before any view, when no dialect is known yet,
and no client of ours meets them (both bounds are far above what any endpoint accepts).
Requests with a ``Content-Length`` pass through untouched.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from cutout import gunicorn_conf

READ_SIZE = 64 * 1024
SPOOL_IN_MEMORY = 1024 * 1024

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _plain(start_response: Callable[..., Any], status: str, text: str) -> list[bytes]:
    body = f"{text}\n".encode()
    start_response(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


class _Closing:
    """The application's response, closing the spooled body once the server is done."""

    def __init__(self, result: Iterable[bytes], body: IO[bytes]) -> None:
        self.result = result
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.result)

    def close(self) -> None:
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            self.body.close()


class ChunkedBodies:
    """WSGI middleware: a chunked body is read whole and given its ``Content-Length``."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        coding = str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
        if "chunked" not in coding or environ.get("CONTENT_LENGTH"):
            return self.app(environ, start_response)
        if not environ.get("wsgi.input_terminated"):
            return _plain(start_response, "411 Length Required", "Send a Content-Length.")
        body: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        size = 0
        source = environ["wsgi.input"]
        while chunk := source.read(READ_SIZE):
            size += len(chunk)
            if size > gunicorn_conf.MAX_BODY_BYTES:
                body.close()
                return _plain(start_response, "413 Content Too Large", "Request body too large.")
            body.write(chunk)
        body.seek(0)
        environ["wsgi.input"] = body
        environ["CONTENT_LENGTH"] = str(size)
        del environ["HTTP_TRANSFER_ENCODING"]
        return _Closing(self.app(environ, start_response), body)
