"""AirPlay 2 SETUP bodies (binary plists), sans-I/O: the session SETUP (timing, event channel) and
the real-time audio stream SETUP (type 96: ``ct``, ``shk``, ``spf``, ``sr``, ``controlPort``).
Buffered audio (type 103), PTP and mirroring (type 110) are refused."""

from __future__ import annotations

import plistlib
from typing import Any

import attrs

from receiver_core.errors import RemoteProtocolError

from .sdp import AlacConfig, AudioAnnouncement

__all__ = ["SessionSetup", "StreamSetup", "parse_setup", "MAX_PLIST_BYTES"]

MAX_PLIST_BYTES = 64 * 1024
STREAM_REALTIME_AUDIO = 96
CT_PCM, CT_ALAC = 1, 2


@attrs.frozen
class SessionSetup:
    timing_port: int
    timing_protocol: str
    device_id: str
    name: str


@attrs.frozen
class StreamSetup:
    announcement: AudioAnnouncement
    shk: bytes = attrs.field(repr=False)
    control_port: int
    stream_type: int = STREAM_REALTIME_AUDIO


def _port(value: Any) -> int:
    return value if isinstance(value, int) and 0 < value < 65536 else 0


def _text(value: Any, limit: int = 64) -> str:
    return value[:limit] if isinstance(value, str) else ""


def parse_setup(body: bytes) -> SessionSetup | StreamSetup:
    if len(body) > MAX_PLIST_BYTES:
        raise RemoteProtocolError("SETUP body too large", status_hint=413)
    try:
        plist = plistlib.loads(body)
    except Exception:  # plistlib raises many types on garbage: none may escape as a crash
        raise RemoteProtocolError("SETUP body is not a plist") from None
    if not isinstance(plist, dict):
        raise RemoteProtocolError("SETUP plist is not a dictionary")
    streams = plist.get("streams")
    if streams is None:
        protocol = _text(plist.get("timingProtocol"))
        if protocol not in ("NTP", "None", ""):
            raise RemoteProtocolError(f"timing protocol {protocol!r} is not supported", status_hint=501)
        return SessionSetup(_port(plist.get("timingPort")), protocol, _text(plist.get("deviceID")),
                            _text(plist.get("name")))
    if not isinstance(streams, list) or len(streams) != 1 or not isinstance(streams[0], dict):
        raise RemoteProtocolError("one stream per SETUP")
    stream = streams[0]
    kind = stream.get("type")
    if kind != STREAM_REALTIME_AUDIO:
        raise RemoteProtocolError(f"stream type {kind!r} is not supported", status_hint=501)
    shk = stream.get("shk")
    if not isinstance(shk, bytes) or len(shk) != 32:
        raise RemoteProtocolError("stream SETUP without a 32-byte shk")
    rate = stream.get("sr", 44100)
    frames = stream.get("spf", 352)
    if not isinstance(rate, int) or not 8000 <= rate <= 192000 or not isinstance(frames, int) or not 1 <= frames <= 8192:
        raise RemoteProtocolError("stream rate or frames per packet out of range")
    codec = stream.get("ct")
    if codec == CT_PCM:
        announcement = AudioAnnouncement("pcm_s16be", 96, rate, 2, frames)
    elif codec == CT_ALAC:
        alac = AlacConfig(frames, 0, 16, 40, 10, 14, 2, 255, 0, 0, rate)
        announcement = AudioAnnouncement("alac", 96, rate, 2, frames, alac=alac)
    else:
        raise RemoteProtocolError(f"audio type ct={codec!r} is not supported", status_hint=501)
    return StreamSetup(announcement, shk, _port(stream.get("controlPort")))


def session_reply(event_port: int, timing_port: int) -> bytes:
    return plistlib.dumps({"eventPort": event_port, "timingPort": timing_port}, fmt=plistlib.FMT_BINARY)


def stream_reply(data_port: int, control_port: int) -> bytes:
    return plistlib.dumps({"streams": [{"type": STREAM_REALTIME_AUDIO, "dataPort": data_port,
                                        "controlPort": control_port}]}, fmt=plistlib.FMT_BINARY)
