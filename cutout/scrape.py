"""``GET /metrics``: who may scrape it and what a scrape reads.

The instruments live in :mod:`cutout.metrics`, which everything may import (the request log does);
this module adds what only a scrape needs: the queue depth, read from the broker through
:mod:`cutout.queue`, and the access rule of the :mod:`cutout.metrics` docstring.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from cutout import metrics, queue


class QueueDepth(Collector):
    """``cutout_queue_messages``: messages waiting on the broker's default queue (read per scrape)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "cutout_queue_messages", "Tasks waiting in the broker's default queue."
        )
        depth = queue.queue_length()
        if depth is not None:
            family.add_metric([], depth)
        yield family


def exposition(*, with_queue: bool) -> bytes:
    source = metrics.registry()
    if not with_queue:
        return generate_latest(source)
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Forward(source))
    scrape.register(QueueDepth())
    return generate_latest(scrape)


class _Forward(Collector):
    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Any]:
        yield from self.source.collect()


# Loopback and the private ranges a monitoring network uses (RFC 1918, IPv6 unique local).
# Not ipaddress's is_private: that also counts the documentation ranges and others as private.
INTERNAL_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "fc00::/7",
    )
)


def _internal(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in INTERNAL_NETWORKS if net.version == ip.version)


def scrape_allowed(*, token: str, authorization: str, remote_addr: str, forwarded: bool) -> bool:
    """The rule in the module docstring."""
    if token:
        scheme, _, given = authorization.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)
    return not forwarded and _internal(remote_addr)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics`` in Prometheus' text format (404 for a caller the rule refuses)."""
    allowed = scrape_allowed(
        token=settings.CUTOUT_METRICS_TOKEN,
        authorization=request.headers.get("Authorization", ""),
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        forwarded="HTTP_X_FORWARDED_FOR" in request.META,
    )
    if not allowed:
        raise Http404
    return HttpResponse(exposition(with_queue=True), content_type=CONTENT_TYPE_LATEST)
