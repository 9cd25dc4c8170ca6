"""The SSRF guard: what may be fetched, and that the connection goes where the check said."""

from __future__ import annotations

import http.server
import ipaddress
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from cutout.files import remote
from cutout.files.remote import UrlFetchError, fetch_image, is_blocked_address
from tests.api.images import image_bytes

PNG = image_bytes(48, 48, "PNG")

BLOCKED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.5",
    "172.16.3.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.100.100.200",  # Alibaba metadata (shared address space)
    "192.0.0.192",  # Oracle metadata
    "0.0.0.0",  # noqa: S104 - a value under test, nothing binds to it
    "224.0.0.1",
    "239.255.255.250",
    "255.255.255.255",
    "198.18.0.1",
    "240.0.0.1",
    "192.0.2.1",  # documentation
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",  # AWS IPv6 metadata
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:169.254.169.254",
    "::ffff:10.1.2.3",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2001:db8::1",  # documentation
    "::127.0.0.1",  # IPv4-compatible
]
ALLOWED = ["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", BLOCKED)
def test_blocked_addresses(address: str) -> None:
    assert is_blocked_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert not is_blocked_address(ipaddress.ip_address(address))


class Recorder:
    """An httpx transport standing in for the network; records what would have been sent."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses.pop(0)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """A fake DNS: host name -> addresses. Unknown names fail to resolve."""
    table: dict[str, list[str]] = {}

    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]

    monkeypatch.setattr(remote, "resolve", resolve)
    return table


def image_response(
    data: bytes = PNG, content_type: str = "image/png", **headers: str
) -> httpx.Response:
    return httpx.Response(200, content=data, headers={"Content-Type": content_type, **headers})


def test_fetch_pins_the_connection_to_the_checked_address(
    dns: dict[str, list[str]], settings
) -> None:
    dns["images.example.com"] = ["93.184.216.34"]
    net = Recorder(image_response())
    got = fetch_image(
        "https://images.example.com/cats/tom.png?x=1", max_bytes=10**6, transport=net.transport
    )
    assert got.data == PNG and got.content_type == "image/png" and got.filename == "tom.png"
    (request,) = net.requests
    assert request.url.host == "93.184.216.34"  # the socket goes to the checked IP...
    assert request.url.path == "/cats/tom.png" and request.url.query == b"x=1"
    assert request.headers["Host"] == "images.example.com"  # ...the server sees the name
    assert request.extensions["sni_hostname"] == "images.example.com"  # and TLS checks it


def test_private_resolution_is_refused_before_connecting(dns: dict[str, list[str]]) -> None:
    dns["internal.example.com"] = ["10.0.0.7"]
    net = Recorder(image_response())
    with pytest.raises(UrlFetchError) as err:
        fetch_image("http://internal.example.com/a.png", max_bytes=10**6, transport=net.transport)
    assert err.value.code == "blocked_address"
    assert net.requests == []


def test_any_private_answer_refuses_the_host(dns: dict[str, list[str]]) -> None:
    dns["mixed.example.com"] = ["93.184.216.34", "127.0.0.1"]
    with pytest.raises(UrlFetchError) as err:
        fetch_image(
            "http://mixed.example.com/a.png", max_bytes=10**6, transport=Recorder().transport
        )
    assert err.value.code == "blocked_address"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a.png",
        "http://[::1]/a.png",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://169.254.169.254/latest/meta-data/",
        "http://2130706433/a.png",  # 127.0.0.1 as one number: resolves to loopback
        "http://0x7f.1/a.png",
    ],
)
def test_literal_and_odd_private_hosts(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Odd spellings go through the real resolver, which turns them into 127.0.0.1.
    monkeypatch.setattr(
        remote, "resolve", lambda host, port: ["127.0.0.1"] if host[0].isdigit() else ["::1"]
    )
    net = Recorder(image_response())
    with pytest.raises(UrlFetchError) as err:
        fetch_image(url, max_bytes=10**6, transport=net.transport)
    assert err.value.code == "blocked_address"
    assert net.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "gopher://example.com/",
        "//example.com/a",
        "http:///a.png",
    ],
)
def test_only_http_urls(url: str, dns: dict[str, list[str]]) -> None:
    with pytest.raises(UrlFetchError) as err:
        fetch_image(url, max_bytes=10**6, transport=Recorder().transport)
    assert err.value.code == "invalid_url"


def test_credentials_in_url_are_refused(dns: dict[str, list[str]]) -> None:
    dns["example.com"] = ["93.184.216.34"]
    with pytest.raises(UrlFetchError) as err:
        fetch_image(
            "http://user:pw@example.com/a.png", max_bytes=10**6, transport=Recorder().transport
        )
    assert err.value.code == "invalid_url"


def test_redirect_to_private_address_is_refused(dns: dict[str, list[str]]) -> None:
    dns["cdn.example.com"] = ["93.184.216.34"]
    dns["evil.example.com"] = ["192.168.0.10"]
    net = Recorder(
        httpx.Response(302, headers={"Location": "http://evil.example.com/secret.png"}),
        image_response(),
    )
    with pytest.raises(UrlFetchError) as err:
        fetch_image("http://cdn.example.com/a.png", max_bytes=10**6, transport=net.transport)
    assert err.value.code == "blocked_address"
    assert len(net.requests) == 1  # the private hop was never contacted


def test_redirect_to_metadata_literal_is_refused(dns: dict[str, list[str]]) -> None:
    dns["cdn.example.com"] = ["93.184.216.34"]
    net = Recorder(httpx.Response(301, headers={"Location": "http://169.254.169.254/latest/"}))
    with pytest.raises(UrlFetchError) as err:
        fetch_image("http://cdn.example.com/a.png", max_bytes=10**6, transport=net.transport)
    assert err.value.code == "blocked_address"


def test_relative_redirects_are_followed_and_rechecked(dns: dict[str, list[str]]) -> None:
    dns["cdn.example.com"] = ["93.184.216.34"]
    dns["img.example.org"] = ["8.8.4.4"]
    net = Recorder(
        httpx.Response(302, headers={"Location": "/v2/a.png"}),
        httpx.Response(307, headers={"Location": "https://img.example.org/final.png"}),
        image_response(),
    )
    got = fetch_image("http://cdn.example.com/a.png", max_bytes=10**6, transport=net.transport)
    assert got.url == "https://img.example.org/final.png" and got.data == PNG
    hosts = [(r.url.host, r.headers["Host"], r.url.path) for r in net.requests]
    assert hosts == [
        ("93.184.216.34", "cdn.example.com", "/a.png"),
        ("93.184.216.34", "cdn.example.com", "/v2/a.png"),
        ("8.8.4.4", "img.example.org", "/final.png"),
    ]


def test_at_most_three_redirects(dns: dict[str, list[str]]) -> None:
    dns["loop.example.com"] = ["93.184.216.34"]
    net = Recorder(*[httpx.Response(302, headers={"Location": f"/r{i}"}) for i in range(4)])
    with pytest.raises(UrlFetchError) as err:
        fetch_image("http://loop.example.com/r", max_bytes=10**6, transport=net.transport)
    assert err.value.code == "too_many_redirects"
    assert len(net.requests) == 4  # the first request and three redirects


def test_declared_size_over_the_cap_is_refused(dns: dict[str, list[str]]) -> None:
    dns["big.example.com"] = ["93.184.216.34"]
    net = Recorder(image_response(PNG, **{"Content-Length": str(10**9)}))
    with pytest.raises(UrlFetchError) as err:
        fetch_image("http://big.example.com/a.png", max_bytes=1000, transport=net.transport)
    assert err.value.code == "too_large"


def test_streamed_body_over_the_cap_is_abandoned(dns: dict[str, list[str]]) -> None:
    dns["big.example.com"] = ["93.184.216.34"]
    sent = []

    def body() -> Iterator[bytes]:
        for _ in range(1000):
            sent.append(1)
            yield b"x" * 4096

    net = Recorder(httpx.Response(200, content=body(), headers={"Content-Type": "image/png"}))
    with pytest.raises(UrlFetchError) as err:
        fetch_image("http://big.example.com/a.png", max_bytes=10_000, transport=net.transport)
    assert err.value.code == "too_large"
    assert len(sent) < 20  # stopped early, not after reading everything


def test_content_type_must_be_an_image(dns: dict[str, list[str]]) -> None:
    dns["example.com"] = ["93.184.216.34"]
    net = Recorder(image_response(b"<html></html>", "text/html; charset=utf-8"))
    with pytest.raises(UrlFetchError) as err:
        fetch_image("http://example.com/", max_bytes=10**6, transport=net.transport)
    assert err.value.code == "bad_content_type"


def test_error_status_and_unknown_host(dns: dict[str, list[str]]) -> None:
    dns["example.com"] = ["93.184.216.34"]
    net = Recorder(httpx.Response(404))
    with pytest.raises(UrlFetchError) as err:
        fetch_image("http://example.com/missing.png", max_bytes=10**6, transport=net.transport)
    assert err.value.code == "bad_status"
    with pytest.raises(UrlFetchError) as err:
        fetch_image("http://nowhere.invalid/a.png", max_bytes=10**6, transport=net.transport)
    assert err.value.code == "dns_failure"


# ---------------------------------------------------------------------------------------------
# Over a real socket (a local server, allowed explicitly by the operator setting)


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes, float]] = {}

    def do_GET(self) -> None:
        status, headers, body, delay = self.routes.get(self.path, (404, {}, b"", 0.0))
        if delay:
            time.sleep(delay)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[tuple[str, dict[str, tuple[int, dict[str, str], bytes, float]]]]:
    routes: dict[str, tuple[int, dict[str, str], bytes, float]] = {}
    handler = type("Handler", (_Handler,), {"routes": routes})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", routes
    finally:
        server.shutdown()
        server.server_close()


def test_loopback_is_refused_over_a_real_socket_by_default(local_server) -> None:
    base, routes = local_server
    routes["/a.png"] = (200, {"Content-Type": "image/png"}, PNG, 0.0)
    with pytest.raises(UrlFetchError) as err:
        fetch_image(f"{base}/a.png", max_bytes=10**6)
    assert err.value.code == "blocked_address"


def test_operator_allowlist_and_real_fetch(local_server, settings) -> None:
    settings.CUTOUT_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    base, routes = local_server
    routes["/a.png"] = (200, {"Content-Type": "image/png"}, PNG, 0.0)
    routes["/hop"] = (302, {"Location": "/a.png"}, b"", 0.0)
    got = fetch_image(f"{base}/hop", max_bytes=10**6)
    assert got.data == PNG and got.url == f"{base}/a.png"
    # The allowlist is exact: a redirect to another private address is still refused.
    routes["/out"] = (302, {"Location": "http://10.1.1.1/a.png"}, b"", 0.0)
    with pytest.raises(UrlFetchError) as err:
        fetch_image(f"{base}/out", max_bytes=10**6)
    assert err.value.code == "blocked_address"


def test_slow_server_times_out(local_server, settings) -> None:
    settings.CUTOUT_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    base, routes = local_server
    routes["/slow.png"] = (200, {"Content-Type": "image/png"}, PNG, 3.0)
    started = time.monotonic()
    with pytest.raises(UrlFetchError) as err:
        fetch_image(f"{base}/slow.png", max_bytes=10**6, timeout=0.5)
    assert err.value.code == "timeout"
    assert time.monotonic() - started < 2.5


class _Drip(httpx.SyncByteStream):
    """A body sent one byte at a time, each well within the read timeout (a slow-loris server)."""

    def __init__(self, count: int, pause: float) -> None:
        self.count, self.pause, self.sent = count, pause, 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.count):
            time.sleep(self.pause)
            self.sent += 1
            yield b"x"


def test_a_dripping_body_is_cut_off_at_the_deadline(dns: dict[str, list[str]]) -> None:
    dns["slow.example.com"] = ["93.184.216.34"]
    drip = _Drip(count=100, pause=0.03)
    net = Recorder(httpx.Response(200, stream=drip, headers={"Content-Type": "image/png"}))
    started = time.monotonic()
    with pytest.raises(UrlFetchError) as err:
        fetch_image(
            "http://slow.example.com/a.png", max_bytes=10**6, timeout=0.5, transport=net.transport
        )
    assert err.value.code == "timeout"
    # The deadline is checked as bytes arrive, not once per 64 KiB: the download stops near it.
    assert time.monotonic() - started < 1.5 and drip.sent < 60


def test_the_deadline_covers_all_redirect_hops(dns: dict[str, list[str]]) -> None:
    dns["hop.example.com"] = ["93.184.216.34"]
    calls = []

    def slow_redirect(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        time.sleep(0.3)
        return httpx.Response(302, headers={"Location": f"/next{len(calls)}"})

    started = time.monotonic()
    with pytest.raises(UrlFetchError) as err:
        fetch_image(
            "http://hop.example.com/a.png",
            max_bytes=10**6,
            timeout=0.5,
            max_redirects=10,
            transport=httpx.MockTransport(slow_redirect),
        )
    assert err.value.code == "timeout"
    assert len(calls) == 2 and time.monotonic() - started < 1.0
