"""RTSP Digest authentication (RFC 2617, MD5, no qop) with the box PIN as the AirPlay password.

AirPlay 1 senders that do not pair (pyatv ``--raop-password``, iTunes) answer a ``401`` with
``WWW-Authenticate: Digest realm="raop", nonce="..."`` by resending the request with an
``Authorization: Digest username=..., realm=..., nonce=..., uri=..., response=...`` header.
The expected response is computed from the PIN and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

__all__ = ["DigestChallenge", "parse_authorization"]

REALM = "raop"
_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]{0,256})"|([^,\s"]{0,256}))\s*(?:,|$)')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def parse_authorization(header: str | None) -> dict[str, str] | None:
    """The parameters of a ``Digest`` Authorization header, or ``None`` if absent or malformed."""
    if header is None or len(header) > 2048:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    position = 0
    while position < len(rest) and len(params) < 16:
        match = _PARAM.match(rest, position)
        if match is None or match.end() == position:
            return None
        params[match.group(1).lower()] = match.group(2) if match.group(2) is not None else match.group(3)
        position = match.end()
    return params


class DigestChallenge:
    """One nonce per control connection."""

    def __init__(self) -> None:
        self.nonce = secrets.token_hex(16)

    def header(self) -> str:
        return f'Digest realm="{REALM}", nonce="{self.nonce}"'

    def verify(self, method: str, header: str | None, password: str) -> bool | None:
        """``None`` when no usable credentials came (ask again), else whether they are right."""
        params = parse_authorization(header)
        if params is None or not all(k in params for k in ("username", "nonce", "uri", "response")):
            return None
        if params.get("realm", REALM) != REALM or not hmac.compare_digest(params["nonce"], self.nonce):
            return None
        ha1 = _md5(f"{params['username']}:{REALM}:{password}")
        ha2 = _md5(f"{method}:{params['uri']}")
        expected = _md5(f"{ha1}:{self.nonce}:{ha2}")
        return hmac.compare_digest(expected.encode(), params["response"].lower().encode())
