"""Which URLs the box may fetch for a sender (sans-I/O: addresses come in already resolved).

Only ``http``/``https``. An address is allowed when it is on the public internet, in one of the
box's own LAN ranges, or in ``[plugin.airplay] video_url_networks``. Loopback, link-local,
multicast, unspecified and reserved addresses are refused unless an admin listed them there
(the tests list 127.0.0.0/8): a sender must not make the box fetch from itself or its neighbours'
management interfaces.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Iterable, Sequence

from receiver_core.errors import RemoteProtocolError

__all__ = ["URLRefused", "Network", "parse_networks", "check_url", "address_allowed", "check_network_text"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class URLRefused(RemoteProtocolError):
    """The sender asked for a URL the box will not fetch."""


def check_network_text(value: tuple[str, ...]) -> str | None:
    """Config check: every entry must be a CIDR network."""
    for text in value:
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            return f"{text!r} is not an IP network (e.g. 192.168.10.0/24)"
    return None


def parse_networks(texts: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(text, strict=False) for text in texts]


def check_url(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an http(s) URL, else ``URLRefused``."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise URLRefused("malformed URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise URLRefused(f"only http and https URLs are played, not {scheme or 'a bare path'!r}")
    if not parts.hostname:
        raise URLRefused("URL without a host")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


def address_allowed(address: str, allowed: Sequence[Network], lan: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allowed):
        return True
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return False
    if any(ip in network for network in lan):
        return True
    return bool(ip.is_global)
