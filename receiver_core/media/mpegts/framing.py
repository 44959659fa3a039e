"""Datagrams to 188-byte TS packets: RTP or raw, any datagram size, resynchronised on 0x47.

Sans-I/O and bounded: ``DatagramUnwrapper`` turns one UDP datagram into TS bytes (stripping an
RTP header when the sender uses RTP/MP2T, payload type 33), ``TsSync`` treats those bytes as one
byte stream and cuts it into TS packets. A packet may be split across datagrams; a datagram may
start anywhere inside a packet (``ffmpeg ... udp://`` sends 1472-byte datagrams: 7 packets and 156
bytes). Sync is acquired only where three sync bytes sit 188 bytes apart, then each packet must
start with 0x47 or sync is lost (counted) and searched again.

The two per-datagram headers (RTP, and the 4-byte TS header read in ``demux``) are read with
``struct``/integer operations rather than ``construct``: measured here, construct takes 27 µs per
RTP header against 0.2 µs, a few percent of a core at four 1080p streams. Everything parsed once
per table or per access unit (PAT, PMT, PES headers, ADTS, SPS) is declared with construct.
"""

from __future__ import annotations

import struct

import attrs

from ...errors import RemoteProtocolError

__all__ = [
    "TS_PACKET_SIZE",
    "TS_SYNC",
    "RTP_MP2T",
    "MAX_DATAGRAM",
    "MpegTsError",
    "RtpHeader",
    "parse_rtp",
    "SequenceTracker",
    "DatagramUnwrapper",
    "TsSync",
]

TS_PACKET_SIZE = 188
TS_SYNC = 0x47
RTP_MP2T = 33
MAX_DATAGRAM = 65535
#: sync bytes that must line up 188 bytes apart before sync is trusted
SYNC_CONFIRMATIONS = 3
#: consecutive datagrams of the other kind (raw vs RTP) before the unwrapper changes its mind
MODE_SWITCH_AFTER = 3


class MpegTsError(RemoteProtocolError):
    """Bytes from a sender that are not MPEG-TS (or RTP carrying it) as the standards describe."""


@attrs.frozen
class RtpHeader:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool


def parse_rtp(data: bytes) -> tuple[RtpHeader, bytes]:
    """RFC 3550 fixed header, CSRC list, header extension and padding -> (header, payload)."""
    if len(data) < 12:
        raise MpegTsError(f"RTP packet too short ({len(data)} bytes)")
    first, second, sequence, timestamp, ssrc = struct.unpack_from("!BBHII", data)
    if first >> 6 != 2:
        raise MpegTsError(f"RTP version {first >> 6}, expected 2")
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if len(data) < offset + 4:
            raise MpegTsError("RTP header extension truncated")
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
    end = len(data)
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or padding > end - offset:
            raise MpegTsError(f"RTP padding of {padding} bytes does not fit")
        end -= padding
    if offset > end:
        raise MpegTsError("RTP header longer than the packet")
    header = RtpHeader(second & 0x7F, sequence, timestamp, ssrc, bool(second & 0x80))
    return header, bytes(data[offset:end])


class SequenceTracker:
    """Counts RTP packets lost (sequence gaps, 16-bit wrap-around); late or repeated ones are counted apart."""

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


def _strict_rtp(data: bytes) -> tuple[RtpHeader, bytes] | None:
    """RTP/MP2T as RFC 2250 sends it: v2, payload type 33, whole TS packets starting with 0x47."""
    if len(data) < 12 + TS_PACKET_SIZE or data[0] >> 6 != 2 or data[1] & 0x7F != RTP_MP2T:
        return None
    try:
        header, payload = parse_rtp(data)
    except MpegTsError:
        return None
    if payload[:1] != b"\x47" or len(payload) % TS_PACKET_SIZE:
        return None
    return header, payload


class DatagramUnwrapper:
    """Decides once per sender whether it sends raw TS or RTP/MP2T, and unwraps each datagram.

    A raw datagram may start anywhere in a TS packet, so its first bytes can look like an RTP
    header by chance; RTP is therefore recognised only in its strict form (``_strict_rtp``) and the
    decision changes only after ``MODE_SWITCH_AFTER`` datagrams in a row say otherwise.
    """

    def __init__(self) -> None:
        self.rtp: bool | None = None
        self.mode_switches = 0
        self._other = 0

    def unwrap(self, data: bytes) -> tuple[bytes, RtpHeader | None]:
        """TS bytes of one datagram and its RTP header (``None`` for raw TS); ``MpegTsError`` if unusable."""
        if not data:
            raise MpegTsError("empty datagram")
        if len(data) > MAX_DATAGRAM:
            raise MpegTsError("datagram too large")
        strict = _strict_rtp(data)
        if self.rtp is None:
            self.rtp = strict is not None
        elif self.rtp != (strict is not None):
            looks_raw = data[0] == TS_SYNC
            if self.rtp and not looks_raw:
                self._other = 0  # a broken RTP datagram, not a raw sender
            else:
                self._other += 1
            if self._other >= MODE_SWITCH_AFTER:
                self.rtp, self._other = not self.rtp, 0
                self.mode_switches += 1
        else:
            self._other = 0
        if not self.rtp:
            return data if isinstance(data, bytes) else bytes(data), None
        header, payload = strict if strict is not None else parse_rtp(data)
        if header.payload_type != RTP_MP2T:
            raise MpegTsError(f"RTP payload type {header.payload_type} is not MPEG-TS ({RTP_MP2T})")
        return payload, header


class TsSync:
    """A byte stream cut into TS packets; keeps at most one partial packet (or a short search window).

    ``feed`` returns the packets in order, with an empty ``bytes`` where sync was lost: the packet
    before it may hold the junction of good and bad bytes, so the demuxer treats what it is
    collecting as damaged. ``sync_losses`` counts those places; ``bytes_skipped`` counts every
    byte that was not part of a delivered packet (garbage, or what lay between a loss of sync and
    the next confirmed sync).
    """

    def __init__(self) -> None:
        self.synced = False
        self.sync_losses = 0
        self.bytes_skipped = 0
        self.packets = 0
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back (a partial packet, or bytes that might still start a sync run)."""
        return len(self._buf)

    def drop_partial(self) -> None:
        """Data was lost (an RTP sequence gap): the held partial packet cannot be completed."""
        self.bytes_skipped += len(self._buf)
        self._buf.clear()

    def feed(self, data: bytes) -> list[bytes]:
        if self._buf:  # a partial packet from the previous datagram goes first
            self._buf += data
            work = bytes(self._buf)
            self._buf.clear()
        else:
            work = data
        size = len(work)
        packets: list[bytes] = []
        append = packets.append
        pos = 0
        while True:
            if self.synced:
                run = pos
                while pos + TS_PACKET_SIZE <= size and work[pos] == TS_SYNC:
                    append(work[pos:pos + TS_PACKET_SIZE])
                    pos += TS_PACKET_SIZE
                self.packets += (pos - run) // TS_PACKET_SIZE
                if pos + TS_PACKET_SIZE > size:
                    break
                self.synced = False
                self.sync_losses += 1
                append(b"")
            start = self._find_sync(work, pos, size)
            if start is None:  # keep only what may still begin a run of sync bytes
                keep = max(pos, size - (SYNC_CONFIRMATIONS - 1) * TS_PACKET_SIZE)
                first = work.find(TS_SYNC, keep)
                keep = size if first < 0 else first
                self.bytes_skipped += keep - pos
                pos = keep
                break
            self.bytes_skipped += start - pos
            pos = start
            self.synced = True
        if pos < size:
            self._buf += work[pos:]
        return packets

    @staticmethod
    def _find_sync(buf: bytes, pos: int, size: int) -> int | None:
        span = (SYNC_CONFIRMATIONS - 1) * TS_PACKET_SIZE
        i = buf.find(TS_SYNC, pos)
        while 0 <= i and i + span < size:
            if all(buf[i + k * TS_PACKET_SIZE] == TS_SYNC for k in range(1, SYNC_CONFIRMATIONS)):
                return i
            i = buf.find(TS_SYNC, i + 1)
        return None
