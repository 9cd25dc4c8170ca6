"""Slow clients cost a socket, never a thread: the real gunicorn set-up of ``make run``
(``cutout/gunicorn_conf.py``, :class:`cutout.gunicorn_worker.BufferingThreadWorker`) with two
threads and short deadlines (issue 17, item 2; the 50-connection figures are in
``python -m cutout.tools.harden_bench slowloris``).

With gunicorn's stock ``gthread`` worker (``--worker-class gthread``) the first test fails: the
drippers hold both threads and ``/livez`` gets no answer at all.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cutout.tools.harden_bench import (
    LIVEZ,
    Dripper,
    gunicorn_server,
    isolated_env,
    timed_request,
)

DEADLINE_S = 2


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    env = isolated_env(Path(tmp_path_factory.mktemp("slow-clients")))
    env.update(
        {
            "CUTOUT_HEADER_TIMEOUT": str(DEADLINE_S),
            "CUTOUT_BODY_TIMEOUT": str(DEADLINE_S),
            "CUTOUT_BODY_MIN_RATE": "1000",
            "CUTOUT_MAX_BODY_BYTES": "100000",
        }
    )
    with gunicorn_server(env, "--threads", "2") as served:
        yield served.port


def _answer(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except OSError:
        pass
    return answer


def test_a_request_is_answered_while_more_slow_clients_than_threads_drip(port: int) -> None:
    dripper = Dripper(port, 20, interval=0.25)  # ten times the thread count
    try:
        time.sleep(0.5)  # every slow connection is in the middle of its headers or body
        for _ in range(3):
            _seconds, status = timed_request(port, LIVEZ, 10)
            assert status == 200  # 0: no answer in 10 s, every thread held by a dripper
    finally:
        dripper.stop()


def _drip_until_answered(sock: socket.socket, piece: bytes, within: float) -> bytes:
    """Send ``piece`` twice a second (never idle, never finished) until the server answers."""
    began = time.monotonic()
    answer = b""
    while not answer and time.monotonic() - began < within:
        sock.sendall(piece)
        sock.settimeout(0.5)
        with contextlib.suppress(TimeoutError):
            answer = sock.recv(65536)
    return answer


def test_headers_that_take_too_long_are_cut_off_with_408(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        began = time.monotonic()
        sock.sendall(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        answer = _drip_until_answered(sock, b"y", DEADLINE_S + 5)
        assert answer.startswith(b"HTTP/1.1 408")
        assert time.monotonic() - began >= DEADLINE_S


def test_a_body_slower_than_the_minimum_rate_is_cut_off_with_408(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /v1.0/removebg HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Length: 50000\r\n\r\n"
        )
        # 20 bytes/s, far below the 1000 bytes/s minimum: cut off once the grace period is over
        answer = _drip_until_answered(sock, b"x" * 10, DEADLINE_S + 10)
        assert answer.startswith(b"HTTP/1.1 408")


def test_a_body_over_the_bound_is_refused_before_it_is_read(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /v1.0/removebg HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Length: 100001\r\n\r\n"
        )
        assert _answer(sock, 5).startswith(b"HTTP/1.1 413")
    chunked = (
        b"POST /v1.0/removebg HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(chunked)
        for _ in range(11):
            sock.sendall(b"2710\r\n" + b"x" * 10_000 + b"\r\n")  # 10,000 bytes a chunk
        assert _answer(sock, 5).startswith(b"HTTP/1.1 413")


def test_kept_alive_and_pipelined_requests_are_all_answered(port: int) -> None:
    keep = LIVEZ.replace(b"Connection: close", b"Connection: keep-alive")
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(keep)
        sock.settimeout(5)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        sock.sendall(keep + keep + LIVEZ)  # two more on the same connection, sent at once
        rest = _answer(sock, 5)
    assert rest.count(b"HTTP/1.1 200") == 3


def test_a_request_pipelined_behind_a_body_is_answered(port: int) -> None:
    body = b"x" * 60_000  # more than gunicorn's parser reads at once
    post = (
        b"POST /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(post + body + LIVEZ)
        answers = _answer(sock, 8)
    assert answers.count(b"HTTP/1.1 ") == 2, answers[:400]  # the POST's refusal, then /livez
    assert b"HTTP/1.1 200" in answers


def test_expect_100_continue_gets_one_interim_answer_and_none_before_a_413(port: int) -> None:
    head = (
        b"POST /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
        b"Content-Type: application/octet-stream\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head % 20_000)
        sock.settimeout(5)
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"x" * 20_000)
        answer = _answer(sock, 5)
    assert b"100 Continue" not in answer and answer.startswith(b"HTTP/1.1 403")  # CSRF: a page
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head % 100_001)
        assert _answer(sock, 5).startswith(b"HTTP/1.1 413")
