"""ICE servers handed to browsers: STUN, and TURN with short-lived REST-API credentials.

TURN REST credentials (coturn ``--use-auth-secret``): username ``"<unix expiry>:<id>"``, password
``base64(HMAC-SHA1(secret, username))``. Sans-I/O: the caller passes the clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

__all__ = ["turn_rest_credentials", "browser_ice_servers"]


def turn_rest_credentials(secret: str, client_id: str, now: float, ttl: int = 600) -> tuple[str, str]:
    username = f"{int(now) + ttl}:{client_id}"
    password = base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()
    return username, password


def browser_ice_servers(stun: list[str], turn: list[str], turn_secret: str, client_id: str, now: float,
                        ttl: int = 600) -> list[dict[str, Any]]:
    """``RTCConfiguration.iceServers`` for one client (credentials only when TURN is configured)."""
    servers: list[dict[str, Any]] = []
    if stun:
        servers.append({"urls": list(stun)})
    if turn and turn_secret:
        username, password = turn_rest_credentials(turn_secret, client_id, now, ttl)
        servers.append({"urls": list(turn), "username": username, "credential": password})
    return servers
