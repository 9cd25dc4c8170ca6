"""A gunicorn worker that reads each request whole before a thread sees it (slow clients).

Gunicorn's ``gthread`` worker hands a connection to a thread of its pool as soon as the first
byte arrives; the thread then reads the headers and the body with blocking reads that have no
deadline. Twenty clients sending one byte a second held all the threads (``/healthz`` went
unanswered for 30 s) and no gunicorn 27 setting bounds it: ``--timeout`` watches the worker
process, ``--keep-alive`` only idle connections between requests. A proxy in front (nginx
buffers requests) fixes it in production, but ``make run`` has none, and a thread should never
be the price of a slow client anyway.

:class:`BufferingThreadWorker` keeps gunicorn's design (one event loop accepts, a thread pool
runs the app) and adds one stage in the event loop: a new or kept-alive connection is read
without blocking into a spooled buffer (memory up to 1 MiB, then a temporary file) until its
request is complete, framed by h11 (the sans-I/O HTTP/1.1 parser httpx already brings); only
then does a thread get it, replaying the buffered bytes to gunicorn's own parser. While a
request is arriving:

- its headers must be complete :data:`~cutout.gunicorn_conf.HEADER_TIMEOUT` seconds after the
  connection (or a kept-alive request) started;
- its body must keep up: it is cut off when ``BODY_TIMEOUT + received / BODY_MIN_RATE`` seconds
  have passed since the headers (a body arriving slower than the minimum rate, on average,
  after a grace period);
- a declared body larger than :data:`~cutout.gunicorn_conf.MAX_BODY_BYTES` is refused at once
  (413), and so is a chunked body once it grows past that.

A slow client then costs a socket and a few kilobytes, never a thread; the number of such
connections is bounded by gunicorn's ``worker_connections``. TLS and HTTP/2 connections (which
this project does not configure: a TLS proxy sits in front) are served the stock way.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import tempfile
import time
from functools import partial
from typing import IO, Any

import h11
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import TConn, ThreadWorker

from cutout import gunicorn_conf

logger = logging.getLogger("gunicorn.error")

READ_SIZE = 64 * 1024
SPOOL_IN_MEMORY = 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def _plain(status: int, reason: str) -> bytes:
    return (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(reason) + 1}\r\n\r\n{reason}\n"
    ).encode()


class ReplaySocket:
    """The connection's socket, replaying the buffered request first (what a thread reads).

    Reads past the buffered bytes (which h11 and gunicorn's parser agreeing make rare) go to
    the socket with :data:`~cutout.gunicorn_conf.HEADER_TIMEOUT` as a timeout, never unbounded.
    Everything else (sendall, fileno, close...) is the socket's own, but for one send: the event
    loop has already answered ``Expect: 100-continue`` (the body could not arrive otherwise), so
    gunicorn's own ``100 Continue``, sent once the body is in, is not sent a second time.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffered: IO[bytes] | None = None
        self.end = 0
        self.continued = False  # the event loop sent this request's 100 Continue

    def replay(self, buffered: IO[bytes]) -> None:
        self.drop()
        self.buffered = buffered
        buffered.seek(0, 2)
        self.end = buffered.tell()
        buffered.seek(0)

    def has_buffered(self) -> bool:
        """Whether buffered bytes are still unread (a pipelined request the poller cannot see)."""
        return self.buffered is not None and self.buffered.tell() < self.end

    def leftover(self) -> bytes:
        """What is still buffered and unread (bytes of a pipelined next request)."""
        data = self.buffered.read() if self.buffered is not None else b""
        self.drop()
        return data

    def drop(self) -> None:
        if self.buffered is not None:
            self.buffered.close()
            self.buffered = None

    def recv(self, size: int, *flags: Any) -> bytes:
        if self.buffered is not None:
            data = self.buffered.read(size)
            if data:
                return data
            self.drop()
        if self.sock.gettimeout() is None:  # never an unbounded blocking read
            self.sock.settimeout(gunicorn_conf.HEADER_TIMEOUT)
        return self.sock.recv(size, *flags)

    def send(self, data: bytes, *flags: Any) -> int:
        if self.continued and data == CONTINUE:
            self.continued = False
            return len(data)
        return self.sock.send(data, *flags)

    def close(self) -> None:
        self.drop()
        self.sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class _Arriving:
    """A request being read in the event loop: its bytes so far and its deadlines."""

    def __init__(self, conn: TConn, sock: ReplaySocket) -> None:
        self.conn = conn
        self.sock = sock
        self.parser = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        self.spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        self.started = time.monotonic()
        self.headers_at: float | None = None
        self.received = 0  # body bytes so far (decoded, as h11 hands them over)

    def deadline(self) -> float:
        if self.headers_at is None:
            return self.started + gunicorn_conf.HEADER_TIMEOUT
        rate_allowance = self.received / gunicorn_conf.BODY_MIN_RATE
        return self.headers_at + gunicorn_conf.BODY_TIMEOUT + rate_allowance

    def feed(self, data: bytes) -> bytes | None:
        """Take ``data``; returns b"" when the request is complete, an answer to send (and
        close) when it must be refused, None while more is needed."""
        self.spool.write(data)
        self.parser.receive_data(data)
        try:
            while True:
                event = self.parser.next_event()
                if event is h11.NEED_DATA:
                    return None
                if isinstance(event, h11.Request):
                    refusal = self._headers(event)
                    if refusal is not None:
                        return refusal
                elif isinstance(event, h11.Data):
                    self.received += len(event.data)
                    if self.received > gunicorn_conf.MAX_BODY_BYTES:
                        return _plain(413, "Request body too large")
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    return b""
                else:  # PAUSED and the like: what h11 cannot frame, gunicorn answers
                    return b""
        except h11.RemoteProtocolError:
            return _plain(400, "Bad request")

    def _headers(self, request: h11.Request) -> bytes | None:
        self.headers_at = time.monotonic()
        self.received = 0
        self.sock.continued = False
        declared = 0
        expects = False
        for name, value in request.headers:
            if name == b"content-length" and value.isdigit():
                declared = int(value)
            if name == b"expect" and value.lower() == b"100-continue":
                expects = True
        if declared > gunicorn_conf.MAX_BODY_BYTES:
            return _plain(413, "Request body too large")
        if expects:
            with contextlib.suppress(OSError):
                self.sock.sock.send(CONTINUE)
                self.sock.continued = True
        return None


class BufferingThreadWorker(ThreadWorker):
    """``gthread`` with the request read whole in the event loop first (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arriving: dict[int, _Arriving] = {}

    def _buffers(self, conn: TConn) -> bool:
        return not self.cfg.is_ssl and not negotiation.prior_knowledge_allowed(
            self.cfg, conn.client
        )

    def enqueue_req(self, conn: TConn) -> None:
        """Every path to a thread comes here: new, kept-alive and pipelined requests alike."""
        if getattr(conn, "cutout_ready", False) or not self._buffers(conn):
            conn.cutout_ready = False
            super().enqueue_req(conn)
            return
        sock = conn.sock if isinstance(conn.sock, ReplaySocket) else ReplaySocket(conn.sock)
        conn.sock = sock
        leftover = b""
        if conn.parser is not None:
            leftover = conn.parser.unreader.take_buffered()
        leftover += sock.leftover()
        sock.sock.setblocking(False)
        state = _Arriving(conn, sock)
        if leftover and self._take(state, leftover):
            return
        self.arriving[id(conn)] = state
        self.poller.register(sock.sock, selectors.EVENT_READ, partial(self._readable, state))

    def _readable(self, state: _Arriving, _fileobj: Any) -> None:
        try:
            data = state.sock.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(state)
            return
        self._take(state, data)

    def _take(self, state: _Arriving, data: bytes) -> bool:
        """Feed ``data``; True when the connection left the arriving stage."""
        answer = state.feed(data)
        if answer is None:
            return False
        if answer:
            self._refuse(state, answer)
            return True
        self._forget(state)
        state.spool.seek(0)
        state.sock.replay(state.spool)
        conn = state.conn
        conn.data_ready = True
        conn.cutout_ready = True
        self.enqueue_req(conn)
        return True

    def finish_request(self, conn: TConn, fs: Any) -> None:
        """A kept-alive connection whose next request is already buffered goes straight back to
        :meth:`enqueue_req`: its socket will never turn readable for those bytes."""
        sock = conn.sock
        if (
            self.alive
            and isinstance(sock, ReplaySocket)
            and sock.has_buffered()
            and not fs.cancelled()
            and fs.exception() is None
            and fs.result() is True
        ):
            self.enqueue_req(conn)
            return
        super().finish_request(conn, fs)

    def _forget(self, state: _Arriving) -> None:
        if self.arriving.pop(id(state.conn), None) is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.poller.unregister(state.sock.sock)

    def _refuse(self, state: _Arriving, answer: bytes) -> None:
        try:
            state.sock.sock.setblocking(True)
            state.sock.sock.settimeout(1.0)
            state.sock.sock.sendall(answer)
        except OSError:
            pass
        self._close(state)

    def _close(self, state: _Arriving) -> None:
        self._forget(state)
        state.spool.close()
        self.nr_conns -= 1
        with contextlib.suppress(OSError):
            state.sock.close()

    def murder_pending(self) -> None:
        """Gunicorn's sweep of deferred connections, plus ours: requests past their deadline."""
        super().murder_pending()
        now = time.monotonic()
        for state in [s for s in self.arriving.values() if s.deadline() < now]:
            logger.info("dropped a request from %s that arrived too slowly", state.conn.client)
            self._refuse(state, _plain(408, "Request timeout"))
