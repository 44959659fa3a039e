"""Which web pages may talk to the admin API: Host and Origin checks (sans-I/O).

* ``Host`` must name the box: an IP literal, ``localhost`` (or ``*.localhost``), the machine's
  host name (also with ``.local``), or one of ``[status] allowed_hosts``. A page whose name was
  re-pointed at the box (DNS rebinding) therefore gets 421.
* A request that changes something (any method but GET, HEAD, OPTIONS) from a browser must be
  same-origin: ``Sec-Fetch-Site`` when sent must be ``same-origin`` or ``none``, and ``Origin``
  when sent must equal the scheme, host and port the request went to. Tools such as curl send
  neither header and are judged by authentication alone.

This holds on loopback without a password too: a page open in the box's own browser cannot
rename it or kick a presenter.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

__all__ = ["SAFE_METHODS", "host_problem", "origin_problem", "split_host"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def split_host(value: str) -> tuple[str, int | None] | None:
    """``host[:port]`` (brackets for IPv6) as (lower-case host, port); None when malformed."""
    value = value.strip().lower()
    if not value:
        return None
    try:
        parts = urlsplit("//" + value)
        port = parts.port
        host = parts.hostname
    except ValueError:
        return None
    if host is None or parts.path or parts.query or parts.fragment or parts.username is not None:
        return None
    return host, port


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return True


def host_problem(host_header: str | None, *, names: Iterable[str]) -> str | None:
    """Why this ``Host`` is not the box (None when it is). ``names``: extra allowed host names."""
    if host_header is None:
        return None  # HTTP/1.0 without Host: not a browser
    parsed = split_host(host_header)
    if parsed is None:
        return "malformed Host header"
    host = parsed[0].rstrip(".")
    allowed = {n.lower().rstrip(".") for n in names}
    if _is_ip(host) or host == "localhost" or host.endswith(".localhost") or host in allowed:
        return None
    return f"Host {host!r} is not a name of this box (add it to [status] allowed_hosts)"


def origin_problem(method: str, headers: Mapping[str, str], *, scheme: str) -> str | None:
    """Why this request may not change anything from a browser (None when it may)."""
    if method.upper() in SAFE_METHODS:
        return None
    fetch_site = headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site.strip().lower() not in ("same-origin", "none"):
        return f"a {fetch_site.strip().lower()} page may not change this box"
    origin = headers.get("Origin")
    if origin is None:
        return None
    host = split_host(headers.get("Host", ""))
    try:
        parts = urlsplit(origin.strip().lower())
        origin_port = parts.port
    except ValueError:
        return "malformed Origin header"
    if host is None or parts.scheme != scheme or parts.hostname is None:
        return "Origin does not match this box"
    default = 443 if scheme == "https" else 80
    if parts.hostname != host[0] or (origin_port or default) != (host[1] or default):
        return "Origin does not match this box"
    return None
