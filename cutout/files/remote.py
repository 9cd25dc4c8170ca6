"""Fetching images from URLs that callers give us, without letting them reach our network.

A URL such as ``http://169.254.169.254/latest/meta-data/`` or ``http://localhost:6379/`` would turn
the API into a proxy into our own infrastructure (server-side request forgery). So, for every hop:

1. Only ``http``/``https`` URLs with a host name are accepted; credentials in URLs are refused.
2. The host is resolved first, and every address it resolves to must be a public unicast address:
   private, loopback, link-local (cloud metadata), multicast, reserved, unspecified, shared
   (CGNAT), documentation and IPv4-mapped/NAT64 forms of those are refused, IPv4 and IPv6 alike,
   and so are the cloud metadata services (:data:`METADATA_ADDRESSES`) wherever they live. A
   refusal says only that the address is not allowed, never which address it was.
3. The connection goes to the checked IP itself (the URL is rewritten to the address; ``Host`` and
   TLS SNI/certificate checks keep the real name), so a second DNS answer cannot swap in another
   address between the check and the connect (DNS rebinding).
4. Redirects are followed by hand, at most :data:`MAX_REDIRECTS`, each one checked like the first.
5. The body is streamed and abandoned as soon as it passes ``max_bytes``; the whole fetch has a
   deadline; the response must be 200 with an image content type.

Operators whose images live on an internal network can allow specific networks with the
``CUTOUT_FETCH_ALLOWED_NETWORKS`` setting (a list of CIDRs; empty by default).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx
from django.conf import settings

from cutout.errors import CutoutError

MAX_REDIRECTS = 3
DEFAULT_TIMEOUT_S = 15.0
USER_AGENT = "Cutout-Fetcher/1.0"
REDIRECT_CODES = {301, 302, 303, 307, 308}
# Content types we accept before the decoder has its say. ``application/octet-stream`` and
# ``binary/octet-stream`` are what many buckets serve images as.
ALLOWED_CONTENT_TYPES = ("image/", "application/octet-stream", "binary/octet-stream")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges refused on top of what ``is_global`` already excludes.
_EXTRA_BLOCKED = [
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT; Alibaba's metadata service)
        "192.0.0.0/24",  # IETF protocol assignments (Oracle's metadata service lives here)
        "198.18.0.0/15",  # benchmarking
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "fc00::/7",  # unique local (AWS's IPv6 metadata service, fd00:ec2::254)
        "fe80::/10",
        "ff00::/8",
    )
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

# Cloud metadata and platform services: refused always, even inside an allowed network
# (``CUTOUT_FETCH_ALLOWED_NETWORKS``), since they hand out credentials. The one list of them.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean... instance metadata
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "168.63.129.16",  # Azure's platform endpoint (WireServer, DNS, health probes)
        "100.100.100.200",  # Alibaba Cloud metadata
        "192.0.0.192",  # Oracle Cloud metadata
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "fd00:ec2::23",  # AWS Time Sync / ECS over IPv6
    )
)
NOT_ALLOWED = "The URL points to an address that is not allowed."


class UrlFetchError(CutoutError):
    """The URL could not be fetched safely. ``code`` says why (``blocked_address``, ``timeout``...)."""

    code = "fetch_failed"
    field = "url"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


@dataclass(frozen=True)
class Fetched:
    data: bytes
    content_type: str
    url: str  # the final URL, after redirects
    filename: str


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = getattr(settings, "CUTOUT_FETCH_ALLOWED_NETWORKS", None) or []
    return [ipaddress.ip_network(str(net), strict=False) for net in nets]


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in an IPv6 one (mapped, NAT64, 6to4, Teredo), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    # IPv4-compatible (deprecated) ::a.b.c.d
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip))
    return None


def is_blocked_address(ip: IPAddress) -> bool:
    """True for any address a fetch must not connect to."""
    if ip in METADATA_ADDRESSES or (_embedded_ipv4(ip) in METADATA_ADDRESSES):
        return True
    if any(ip in net for net in _allowed_networks()):
        return False
    inner = _embedded_ipv4(ip)
    if inner is not None:
        # An IPv6 form of an IPv4 address (mapped, NAT64, 6to4...) is judged by that address.
        return is_blocked_address(inner)
    if (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    ):
        return True
    return any(ip.version == net.version and ip in net for net in _EXTRA_BLOCKED)


def resolve(host: str, port: int) -> list[str]:
    """All addresses ``host`` resolves to (a seam tests replace to play DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _checked_address(host: str, port: int) -> IPAddress:
    """Resolve ``host`` and return an address to connect to, or refuse."""
    literal = host.strip("[]")
    try:
        addresses: Iterable[str] = [str(ipaddress.ip_address(literal))]
    except ValueError:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError):
            raise UrlFetchError(
                "dns_failure", f"The host {host!r} could not be resolved."
            ) from None
    parsed = []
    for text in addresses:
        try:
            parsed.append(ipaddress.ip_address(text.split("%", 1)[0]))
        except ValueError:
            continue
    if not parsed:
        raise UrlFetchError("dns_failure", f"The host {host!r} has no usable address.")
    # Every answer must be public: a host that also resolves inward is refused outright. The
    # message never names the address: it would let a caller map our internal DNS.
    if any(is_blocked_address(ip) for ip in parsed):
        raise UrlFetchError("blocked_address", NOT_ALLOWED)
    return parsed[0]


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (the checked address) and what to say (the real host)."""

    url: str
    scheme: str
    host: str
    port: int
    ip: IPAddress
    path: str  # path + query, as sent

    @property
    def pinned_url(self) -> str:
        ip = f"[{self.ip}]" if self.ip.version == 6 else str(self.ip)
        return f"{self.scheme}://{ip}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def extensions(self) -> dict[str, Any]:
        """httpx request extensions: TLS checks the real host name, not the pinned address."""
        return {"sni_hostname": self.host} if self.scheme == "https" else {}


def check_url(url: str) -> Target:
    """Validate ``url`` and resolve its host to one allowed address (raises :class:`UrlFetchError`).

    For callers that make their own request (webhooks): connect to ``target.pinned_url`` with
    ``Host: target.host_header`` and ``extensions=target.extensions``.
    """
    if len(url) > 2048:
        raise UrlFetchError("invalid_url", "The URL is too long (2048 characters at most).")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise UrlFetchError("invalid_url", "The URL is not valid.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlFetchError("invalid_url", "Only http:// and https:// URLs can be fetched.")
    if parts.username is not None or parts.password is not None:
        raise UrlFetchError("invalid_url", "URLs with credentials are not accepted.")
    host = (parts.hostname or "").lower()
    if not host:
        raise UrlFetchError("invalid_url", "The URL has no host.")
    port = port or (443 if scheme == "https" else 80)
    ip = _checked_address(host, port)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(url=url.strip(), scheme=scheme, host=host, port=port, ip=ip, path=path)


def _filename(url: str) -> str:
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return name[:255] or "image"


def fetch_image(
    url: str,
    *,
    max_bytes: int,
    timeout: float = DEFAULT_TIMEOUT_S,
    max_redirects: int = MAX_REDIRECTS,
    transport: httpx.BaseTransport | None = None,
) -> Fetched:
    """Download an image from ``url`` behind the SSRF guard. Raises :class:`UrlFetchError`.

    ``transport`` lets tests stand in for the network; the guard runs the same either way.
    """
    deadline = time.monotonic() + timeout
    current = url
    client_timeout = httpx.Timeout(timeout, connect=min(5.0, timeout))
    with httpx.Client(
        transport=transport, timeout=client_timeout, follow_redirects=False, trust_env=False
    ) as client:
        for _hop in range(max_redirects + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise UrlFetchError("timeout", "The image URL did not answer in time.")
            target = check_url(current)
            fetched = _get(client, target, remaining, max_bytes=max_bytes, deadline=deadline)
            if isinstance(fetched, Fetched):
                return fetched
            current = fetched  # a redirect, checked like the first URL on the next hop
    raise UrlFetchError(
        "too_many_redirects", f"The image URL redirected more than {max_redirects} times."
    )


def _get(
    client: httpx.Client, target: Target, remaining: float, *, max_bytes: int, deadline: float
) -> Fetched | str:
    """One hop: the image, or the URL a redirect points to."""
    headers = {"Host": target.host_header, "User-Agent": USER_AGENT, "Accept": "image/*"}
    # Each hop gets only what is left of the one deadline (a socket read included).
    request = client.build_request(
        "GET",
        target.pinned_url,
        headers=headers,
        extensions=target.extensions,
        timeout=httpx.Timeout(remaining, connect=min(5.0, remaining)),
    )
    try:
        response = client.send(request, stream=True)
    except httpx.TimeoutException:
        raise UrlFetchError("timeout", "The image URL did not answer in time.") from None
    except httpx.HTTPError as exc:
        raise UrlFetchError(
            "connection_failed",
            f"The image URL could not be reached ({type(exc).__name__}).",
        ) from None
    try:
        if response.status_code in REDIRECT_CODES:
            location = response.headers.get("Location")
            if not location:
                raise UrlFetchError("bad_status", "The image URL redirected without a Location.")
            return urljoin(target.url, location)
        if response.status_code != 200:
            raise UrlFetchError(
                "bad_status", f"The image URL answered HTTP {response.status_code}."
            )
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not content_type.startswith(ALLOWED_CONTENT_TYPES):
            raise UrlFetchError(
                "bad_content_type",
                f"The URL does not serve an image (Content-Type {content_type or 'missing'}).",
            )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise UrlFetchError(
                "too_large", f"The image at the URL is larger than {max_bytes} bytes."
            )
        return Fetched(
            data=_read_body(response, max_bytes=max_bytes, deadline=deadline),
            content_type=content_type,
            url=target.url,
            filename=_filename(target.url),
        )
    finally:
        response.close()


def _read_body(response: httpx.Response, *, max_bytes: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        # No chunk size: every network read comes through, so a server dripping a byte at a
        # time meets the deadline instead of filling a 64 KiB buffer first.
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise UrlFetchError(
                    "too_large", f"The image at the URL is larger than {max_bytes} bytes."
                )
            if time.monotonic() > deadline:
                raise UrlFetchError("timeout", "The image download took too long.")
            chunks.append(chunk)
    except httpx.TimeoutException:
        raise UrlFetchError("timeout", "The image download took too long.") from None
    except httpx.HTTPError as exc:
        raise UrlFetchError(
            "connection_failed", f"The image download failed ({type(exc).__name__})."
        ) from None
    return b"".join(chunks)
