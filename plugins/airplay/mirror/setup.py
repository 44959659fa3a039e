"""The mirroring parts of SETUP bodies (binary plists), sans-I/O.

Session SETUP (legacy senders): ``ekey`` (72 bytes, FairPlay-wrapped stream key) and ``eiv``
(16 bytes). Stream SETUP: ``{streams: [{type: 110, streamConnectionID: <u64>, ...}]}`` answered
with ``{streams: [{type: 110, dataPort: <mirror TCP port>}]}``.
"""

from __future__ import annotations

import plistlib
from typing import Any

import attrs

from receiver_core.errors import RemoteProtocolError

from ..fairplay import EKEY_LENGTH

__all__ = ["MirrorSetup", "StreamKeys", "STREAM_MIRROR", "is_mirror_setup", "parse_mirror_setup",
           "parse_stream_keys", "mirror_reply", "MAX_PLIST_BYTES", "teardown_stream_types", "single_stream"]

STREAM_MIRROR = 110
MAX_PLIST_BYTES = 64 * 1024


@attrs.frozen
class MirrorSetup:
    stream_connection_id: int


@attrs.frozen
class StreamKeys:
    ekey: bytes = attrs.field(repr=False)
    eiv: bytes = attrs.field(repr=False)


def _load(body: bytes) -> dict[str, Any] | None:
    if len(body) > MAX_PLIST_BYTES:
        raise RemoteProtocolError("SETUP body too large", status_hint=413)
    try:
        plist = plistlib.loads(body)
    except Exception:  # plistlib raises many types on garbage
        return None
    return plist if isinstance(plist, dict) else None


def single_stream(body: bytes, stream_type: int) -> dict[str, Any] | None:
    """The one stream of a bplist SETUP when it has exactly one, of ``stream_type``; else None
    (a body over ``MAX_PLIST_BYTES`` is refused with 413)."""
    plist = _load(body)
    streams = plist.get("streams") if plist else None
    if not isinstance(streams, list) or len(streams) != 1 or not isinstance(streams[0], dict):
        return None
    stream: dict[str, Any] = streams[0]
    return stream if stream.get("type") == stream_type else None


def is_mirror_setup(body: bytes) -> bool:
    """Whether a bplist SETUP asks for a mirror stream (type 110)."""
    return single_stream(body, STREAM_MIRROR) is not None


def parse_mirror_setup(body: bytes) -> MirrorSetup:
    stream = single_stream(body, STREAM_MIRROR)
    if stream is None:
        raise RemoteProtocolError("not a mirror stream SETUP")
    sid = stream.get("streamConnectionID")
    if isinstance(sid, bool) or not isinstance(sid, int) or not -(2**63) <= sid < 2**64:
        raise RemoteProtocolError("mirror SETUP without a 64-bit streamConnectionID")
    return MirrorSetup(sid & (2**64 - 1))  # plists store it signed; the key schedule wants unsigned


def parse_stream_keys(body: bytes) -> StreamKeys | None:
    """``ekey``/``eiv`` of a legacy session SETUP, ``None`` when absent (the HomeKit mode)."""
    plist = _load(body)
    if plist is None or "ekey" not in plist:
        return None
    ekey, eiv = plist.get("ekey"), plist.get("eiv")
    if not isinstance(ekey, bytes) or len(ekey) != EKEY_LENGTH or not isinstance(eiv, bytes) or len(eiv) != 16:
        raise RemoteProtocolError("SETUP ekey/eiv malformed")
    return StreamKeys(ekey, eiv)


def mirror_reply(data_port: int) -> bytes:
    return plistlib.dumps({"streams": [{"type": STREAM_MIRROR, "dataPort": data_port}]}, fmt=plistlib.FMT_BINARY)


def teardown_stream_types(body: bytes) -> set[int] | None:
    """The stream types a TEARDOWN names (``{streams: [{type: 96}, ...]}``), ``None`` when it names none
    (no body, not a plist, no ``streams``: the whole session ends)."""
    if not body or len(body) > MAX_PLIST_BYTES:
        return None
    plist = _load(body)
    streams = plist.get("streams") if plist else None
    if not isinstance(streams, list) or not 0 < len(streams) <= 4:
        return None
    types = [s.get("type") if isinstance(s, dict) else None for s in streams]
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in types):
        return None
    return {int(t) for t in types if t is not None}
