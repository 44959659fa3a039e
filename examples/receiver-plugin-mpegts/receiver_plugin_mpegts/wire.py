"""Sans-I/O parsing of what arrives on the UDP port: raw MPEG-TS, or RTP carrying MPEG-TS (PT 33).

Every byte is untrusted: lengths are checked before use and anything malformed raises
``DatagramError`` (a ``RemoteProtocolError``). No sockets, no event loop.
"""

from __future__ import annotations

import struct

import attrs

from receiver_core import RemoteProtocolError

__all__ = ["TS_PACKET_SIZE", "DatagramError", "RtpPacket", "TsPayload", "parse_rtp", "parse_datagram",
           "check_ts", "SequenceTracker"]

TS_PACKET_SIZE = 188
TS_SYNC = 0x47
RTP_MP2T = 33
MAX_DATAGRAM = 65507


class DatagramError(RemoteProtocolError):
    """A datagram that is neither MPEG-TS nor RTP/MPEG-TS."""


@attrs.frozen
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes


@attrs.frozen
class TsPayload:
    """Whole TS packets, plus the RTP sequence number when they came over RTP."""

    data: bytes
    sequence: int | None = None
    ssrc: int | None = None


def parse_rtp(data: bytes) -> RtpPacket:
    """RFC 3550 fixed header, CSRC list, header extension and padding."""
    if len(data) < 12:
        raise DatagramError(f"RTP packet too short ({len(data)} bytes)")
    first, second = data[0], data[1]
    if first >> 6 != 2:
        raise DatagramError(f"RTP version {first >> 6}, expected 2")
    sequence, timestamp, ssrc = struct.unpack_from("!HII", data, 2)
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if len(data) < offset + 4:
            raise DatagramError("RTP header extension truncated")
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
    end = len(data)
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or padding > end - offset:
            raise DatagramError(f"RTP padding of {padding} bytes does not fit")
        end -= padding
    if offset > end:
        raise DatagramError("RTP header longer than the packet")
    return RtpPacket(second & 0x7F, sequence, timestamp, ssrc, bool(second & 0x80), data[offset:end])


def check_ts(data: bytes) -> None:
    """Whole 188-byte packets, each starting with the sync byte."""
    if not data or len(data) % TS_PACKET_SIZE:
        raise DatagramError(f"{len(data)} bytes is not a whole number of 188-byte TS packets")
    if any(data[i] != TS_SYNC for i in range(0, len(data), TS_PACKET_SIZE)):
        raise DatagramError("TS sync byte missing")


def parse_datagram(data: bytes) -> TsPayload:
    """Raw TS (starts with 0x47; never valid RTP v2) or RTP with payload type 33."""
    if len(data) > MAX_DATAGRAM:
        raise DatagramError("datagram too large")
    if data[:1] == bytes([TS_SYNC]):
        check_ts(data)
        return TsPayload(bytes(data))
    rtp = parse_rtp(data)
    if rtp.payload_type != RTP_MP2T:
        raise DatagramError(f"RTP payload type {rtp.payload_type} is not MPEG-TS ({RTP_MP2T})")
    check_ts(rtp.payload)
    return TsPayload(rtp.payload, rtp.sequence, rtp.ssrc)


class SequenceTracker:
    """Counts RTP packets lost (sequence gaps, 16-bit wrap-around); late or repeated ones are ignored."""

    def __init__(self) -> None:
        self.expected: int | None = None
        self.lost = 0
        self.late = 0

    def update(self, sequence: int) -> int:
        """Packets lost just before this one (0 when in order)."""
        if self.expected is None:
            self.expected = (sequence + 1) & 0xFFFF
            return 0
        gap = (sequence - self.expected) & 0xFFFF
        if gap >= 0x8000:  # behind what we expected: late or duplicate
            self.late += 1
            return 0
        self.expected = (sequence + 1) & 0xFFFF
        self.lost += gap
        return gap
