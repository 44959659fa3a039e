"""Video-URL requests and replies, sans-I/O: ``POST /play`` bodies (``text/parameters`` or binary
plist), query numbers of ``/scrub`` and ``/rate``, the ``/playback-info`` and ``/server-info``
plists. Every size and number from the sender is bounded."""

from __future__ import annotations

import math
import plistlib
import urllib.parse
from typing import Any

import attrs

from receiver_core.errors import RemoteProtocolError

__all__ = ["PlayRequest", "parse_play", "query_number", "playback_info", "server_info", "MAX_URL_LENGTH"]

MAX_BODY = 64 * 1024
MAX_URL_LENGTH = 4096
MAX_SECONDS = 7 * 24 * 3600.0


@attrs.frozen
class PlayRequest:
    url: str
    start_fraction: float = 0.0  # Start-Position, 0..1 of the duration
    start_seconds: float | None = None  # Start-Position-Seconds (wins when present)


def _number(value: Any, low: float, high: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RemoteProtocolError(f"{what} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise RemoteProtocolError(f"{what} is not a number") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise RemoteProtocolError(f"{what} {number!r} outside {low}..{high}")
    return number


def _fields(body: bytes, content_type: str) -> dict[str, Any]:
    if body.startswith(b"bplist") or "plist" in content_type:
        try:
            plist = plistlib.loads(body)
        except Exception:  # plistlib raises many types on garbage
            raise RemoteProtocolError("/play body is not a plist") from None
        if not isinstance(plist, dict):
            raise RemoteProtocolError("/play plist is not a dictionary")
        return plist
    fields: dict[str, Any] = {}
    for line in body.decode("utf-8", "replace").splitlines()[:32]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


def parse_play(body: bytes, content_type: str = "") -> PlayRequest:
    if len(body) > MAX_BODY:
        raise RemoteProtocolError("/play body too large", status_hint=413)
    fields = _fields(body, content_type.lower())
    url = fields.get("Content-Location")
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH or any(c in url for c in "\r\n\x00 "):
        raise RemoteProtocolError("/play without a usable Content-Location")
    fraction = _number(fields.get("Start-Position", 0.0), 0.0, 1.0, "Start-Position")
    seconds = fields.get("Start-Position-Seconds")
    return PlayRequest(url, fraction, None if seconds is None else _number(seconds, 0.0, MAX_SECONDS,
                                                                           "Start-Position-Seconds"))


def query_number(target: str, name: str, low: float, high: float) -> float:
    """``/scrub?position=12.5`` -> 12.5 (bounded)."""
    query = urllib.parse.parse_qs(target.partition("?")[2][:256], max_num_fields=4)
    values = query.get(name)
    if not values:
        raise RemoteProtocolError(f"missing {name}")
    return _number(values[0], low, high, name)


def playback_info(duration: float | None, position: float, rate: float, *, error: str | None = None) -> bytes:
    """The ``/playback-info`` plist. Without ``duration`` (nothing playing) senders consider playback over."""
    info: dict[str, Any] = {}
    if error is not None:
        info["error"] = {"code": -1, "domain": "montage-receiver", "description": error[:200]}
    elif duration is not None:
        ranges = [{"start": 0.0, "duration": duration}]
        info = {"duration": duration, "position": position, "rate": rate, "readyToPlay": True,
                "playbackBufferEmpty": False, "playbackBufferFull": True, "playbackLikelyToKeepUp": True,
                "loadedTimeRanges": ranges, "seekableTimeRanges": ranges}
    return plistlib.dumps(info, fmt=plistlib.FMT_BINARY)


def server_info(device_id: str, features: int, model: str, source_version: str) -> bytes:
    return plistlib.dumps({"deviceid": device_id, "features": features, "model": model, "protovers": "1.0",
                           "srcvers": source_version}, fmt=plistlib.FMT_BINARY)
