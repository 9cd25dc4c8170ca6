"""The SSRF guard's policy details (issue 17, item 9): refusals never name the address a host
resolved to, and cloud metadata addresses are refused always, even inside allowed networks."""

from __future__ import annotations

import ipaddress

import pytest

from cutout.files import remote
from cutout.files.remote import METADATA_ADDRESSES, UrlFetchError, check_url, is_blocked_address
from cutout.webhooks.services import WebhookUrlError, url_check


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    monkeypatch.setattr(remote, "resolve", lambda host, port: table[host])
    return table


@pytest.mark.parametrize(
    "address", ["10.1.2.3", "172.16.9.9", "192.168.77.1", "127.0.0.53", "fd12::1", "168.63.129.16"]
)
def test_refusals_do_not_echo_the_resolved_address(dns, address: str) -> None:
    dns["intranet.example.com"] = ["93.184.216.34", address]
    with pytest.raises(UrlFetchError) as caught:
        check_url("https://intranet.example.com/cat.png")
    assert caught.value.code == "blocked_address"
    assert caught.value.message == remote.NOT_ALLOWED
    assert address not in caught.value.message
    with pytest.raises(WebhookUrlError) as refused:  # webhook endpoints say no more
        url_check("https://intranet.example.com/hook")
    assert address not in refused.value.message and "not allowed" in refused.value.message


def test_azure_platform_address_and_every_metadata_address_are_blocked() -> None:
    assert ipaddress.ip_address("168.63.129.16") in METADATA_ADDRESSES
    for address in METADATA_ADDRESSES:
        assert is_blocked_address(address), address
    # ...also in IPv6 clothing.
    assert is_blocked_address(ipaddress.ip_address("::ffff:168.63.129.16"))
    assert is_blocked_address(ipaddress.ip_address("64:ff9b::a83f:8110"))


def test_metadata_stays_blocked_inside_an_allowed_network(settings) -> None:
    settings.CUTOUT_FETCH_ALLOWED_NETWORKS = ["168.63.0.0/16", "169.254.0.0/16", "fd00::/8"]
    assert not is_blocked_address(ipaddress.ip_address("168.63.1.1"))  # the operator's choice
    assert not is_blocked_address(ipaddress.ip_address("169.254.10.10"))
    for address in ("168.63.129.16", "169.254.169.254", "fd00:ec2::254"):
        assert is_blocked_address(ipaddress.ip_address(address)), address
