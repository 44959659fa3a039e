"""RAOP packets on the UDP data, control and timing ports, declared with construct.

Data: a 12-byte RTP header then the (maybe encrypted) audio payload.
Control: sync ``0xd4`` (sender -> receiver), retransmit request ``0xd5`` (receiver -> sender),
retransmit reply ``0xd6`` (a whole audio packet after a 4-byte header).
Timing: NTP-style request ``0xd2`` and reply ``0xd3`` (three 64-bit NTP times).
"""

from __future__ import annotations

import attrs
from construct import Bytes, Const, ConstructError, GreedyBytes, Int8ub, Int16ub, Int32ub, Int64ub, Struct

from receiver_core.errors import RemoteProtocolError

__all__ = [
    "RtpHeader", "AudioPacket", "SyncPacket", "TimingPacket", "parse_audio", "parse_control",
    "build_retransmit_request", "build_timing_request", "parse_timing", "MAX_DATAGRAM",
    "PT_AUDIO", "PT_SYNC", "PT_RETRANSMIT_REQUEST", "PT_RETRANSMIT_REPLY", "PT_TIMING_REQUEST", "PT_TIMING_REPLY",
]

MAX_DATAGRAM = 2048  # a RAOP audio packet is 352 frames: at most ~1.5 kB even uncompressed
PT_AUDIO = 0x60
PT_SYNC = 0x54
PT_RETRANSMIT_REQUEST = 0x55
PT_RETRANSMIT_REPLY = 0x56
PT_TIMING_REQUEST = 0x52
PT_TIMING_REPLY = 0x53

RtpHeader = Struct(
    "flags" / Int8ub,          # version 2 in the top bits; extension/marker bits vary by sender
    "marker_type" / Int8ub,    # marker bit 0x80 | payload type
    "sequence" / Int16ub,
    "timestamp" / Int32ub,
    "ssrc" / Int32ub,
)
_Audio = Struct("header" / RtpHeader, "payload" / GreedyBytes)
_Sync = Struct(
    "flags" / Int8ub, "marker_type" / Int8ub, "sequence" / Int16ub,
    "rtp_now_minus_latency" / Int32ub, "ntp" / Int64ub, "rtp_now" / Int32ub,
)
_ControlHead = Struct("flags" / Int8ub, "marker_type" / Int8ub, "sequence" / Int16ub)
_RetransmitRequest = Struct(
    "flags" / Const(0x80, Int8ub), "marker_type" / Const(0x80 | PT_RETRANSMIT_REQUEST, Int8ub),
    "sequence" / Int16ub, "first" / Int16ub, "count" / Int16ub,
)
_Timing = Struct(
    "flags" / Int8ub, "marker_type" / Int8ub, "sequence" / Int16ub, "padding" / Bytes(4),
    "reference" / Int64ub, "received" / Int64ub, "sent" / Int64ub,
)


@attrs.frozen
class AudioPacket:
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes
    header: bytes  # the 12 raw header bytes (AP2 uses 4..12 as AAD)


@attrs.frozen
class SyncPacket:
    rtp_now_minus_latency: int
    ntp: int
    rtp_now: int
    first: bool


@attrs.frozen
class TimingPacket:
    kind: int
    reference: int
    received: int
    sent: int


def _check_size(data: bytes, minimum: int) -> None:
    if len(data) > MAX_DATAGRAM:
        raise RemoteProtocolError("datagram too large")
    if len(data) < minimum:
        raise RemoteProtocolError("datagram too short")


def parse_audio(data: bytes) -> AudioPacket:
    _check_size(data, 12)
    try:
        parsed = _Audio.parse(data)
    except ConstructError as exc:
        raise RemoteProtocolError(f"bad RTP packet: {exc}") from None
    head = parsed.header
    if head.flags >> 6 != 2:
        raise RemoteProtocolError("not RTP version 2")
    if head.marker_type & 0x7F != PT_AUDIO:
        raise RemoteProtocolError(f"unexpected RTP payload type {head.marker_type & 0x7F:#x}")
    return AudioPacket(head.sequence, head.timestamp, head.ssrc, bool(head.marker_type & 0x80),
                       parsed.payload, bytes(data[:12]))


def parse_control(data: bytes) -> SyncPacket | AudioPacket:
    """A control-port datagram: a sync packet or a retransmitted audio packet."""
    _check_size(data, 4)
    try:
        head = _ControlHead.parse(data)
        kind = head.marker_type & 0x7F
        if kind == PT_SYNC:
            if len(data) != _Sync.sizeof():
                raise RemoteProtocolError("sync packet of the wrong size")
            sync = _Sync.parse(data)
            return SyncPacket(sync.rtp_now_minus_latency, sync.ntp, sync.rtp_now, bool(sync.flags & 0x10))
    except ConstructError as exc:
        raise RemoteProtocolError(f"bad control packet: {exc}") from None
    if kind == PT_RETRANSMIT_REPLY:
        return parse_audio(data[4:])
    raise RemoteProtocolError(f"unexpected control packet type {kind:#x}")


def build_retransmit_request(counter: int, first: int, count: int) -> bytes:
    return bytes(_RetransmitRequest.build({"sequence": counter & 0xFFFF, "first": first & 0xFFFF,
                                     "count": max(1, min(count, 0xFFFF))}))


def build_timing_request(counter: int, sent: int) -> bytes:
    return bytes(_Timing.build({"flags": 0x80, "marker_type": 0x80 | PT_TIMING_REQUEST,
                                "sequence": counter & 0xFFFF, "padding": bytes(4), "reference": 0, "received": 0,
                                "sent": sent}))


def build_timing_reply(request: TimingPacket, received: int, sent: int) -> bytes:
    return bytes(_Timing.build({"flags": 0x80, "marker_type": 0x80 | PT_TIMING_REPLY, "sequence": 7,
                                "padding": bytes(4), "reference": request.sent, "received": received,
                                "sent": sent}))


def parse_timing(data: bytes) -> TimingPacket:
    _check_size(data, _Timing.sizeof())
    if len(data) != _Timing.sizeof():
        raise RemoteProtocolError("timing packet of the wrong size")
    try:
        parsed = _Timing.parse(data)
    except ConstructError as exc:
        raise RemoteProtocolError(f"bad timing packet: {exc}") from None
    kind = parsed.marker_type & 0x7F
    if kind not in (PT_TIMING_REQUEST, PT_TIMING_REPLY):
        raise RemoteProtocolError(f"unexpected timing packet type {kind:#x}")
    return TimingPacket(kind, parsed.reference, parsed.received, parsed.sent)


def ntp_from_unix(seconds: float) -> int:
    """64-bit NTP time (seconds since 1900 in the high half)."""
    whole = int(seconds)
    return ((whole + 2208988800) & 0xFFFFFFFF) << 32 | int((seconds - whole) * (1 << 32)) & 0xFFFFFFFF
