"""Sans-I/O RTP for Wi-Fi Display media: header parsing, a reorder buffer with loss counting, and the
inactivity watchdog. No sockets, no clock (the caller passes ``now``).

Wi-Fi Display sends MPEG-TS in RTP payload type 33, seven 188-byte TS packets per datagram.
"""

from __future__ import annotations

import attrs
import construct as cs

from receiver_core import RemoteProtocolError

__all__ = ["RtpError", "RtpPacket", "parse_rtp", "ReorderBuffer", "Watchdog", "RTP_MP2T", "TS_PACKET"]

RTP_MP2T = 33
TS_PACKET = 188
MAX_DATAGRAM = 65507

RTP_HEADER = cs.Struct(
    "flags" / cs.BitStruct(
        "version" / cs.BitsInteger(2),
        "padding" / cs.Flag,
        "extension" / cs.Flag,
        "csrc_count" / cs.BitsInteger(4),
        "marker" / cs.Flag,
        "payload_type" / cs.BitsInteger(7),
    ),
    "sequence" / cs.Int16ub,
    "timestamp" / cs.Int32ub,
    "ssrc" / cs.Int32ub,
    "csrcs" / cs.Array(cs.this.flags.csrc_count, cs.Int32ub),
    "extension" / cs.If(cs.this.flags.extension, cs.Struct(
        "profile" / cs.Int16ub,
        "words" / cs.Int16ub,
        "data" / cs.Bytes(cs.this.words * 4),
    )),
)


class RtpError(RemoteProtocolError):
    """A datagram that is not RTP carrying MPEG-TS."""


@attrs.frozen
class RtpPacket:
    sequence: int
    timestamp: int
    ssrc: int
    payload_type: int
    payload: bytes


def parse_rtp(data: bytes) -> RtpPacket:
    """RFC 3550 header (CSRCs, extension, padding) around whole TS packets."""
    if len(data) < 12 or len(data) > MAX_DATAGRAM:
        raise RtpError(f"RTP datagram of {len(data)} bytes")
    try:
        header = RTP_HEADER.parse(data)
    except cs.ConstructError:
        raise RtpError("RTP header truncated") from None
    flags = header.flags
    if flags.version != 2:
        raise RtpError(f"RTP version {flags.version}")
    offset = 12 + 4 * flags.csrc_count + (4 + 4 * header.extension.words if flags.extension else 0)
    end = len(data)
    if flags.padding:
        padding = data[-1]
        if padding == 0 or padding > end - offset:
            raise RtpError("RTP padding does not fit")
        end -= padding
    payload = data[offset:end]
    if flags.payload_type != RTP_MP2T:
        raise RtpError(f"RTP payload type {flags.payload_type}, expected MPEG-TS ({RTP_MP2T})")
    if not payload or len(payload) % TS_PACKET or any(payload[i] != 0x47 for i in range(0, len(payload), TS_PACKET)):
        raise RtpError("RTP payload is not whole MPEG-TS packets")
    return RtpPacket(header.sequence, header.timestamp, header.ssrc, flags.payload_type, bytes(payload))


class ReorderBuffer:
    """Releases payloads in sequence order; a gap still open when ``depth`` packets wait is counted
    as lost and skipped. Late (already skipped) and duplicate packets are dropped and counted."""

    def __init__(self, depth: int = 16) -> None:
        self.depth = depth
        self.received = 0
        self.lost = 0
        self.late = 0
        self.duplicates = 0
        self.resets = 0
        self._next: int | None = None  # extended sequence number expected next
        self._highest = 0
        self._pending: dict[int, bytes] = {}

    def _extend(self, sequence: int) -> int:
        delta = (sequence - self._highest) & 0xFFFF
        extended = self._highest + delta if delta < 0x8000 else self._highest - (0x10000 - delta)
        self._highest = max(self._highest, extended)
        return extended

    def push(self, sequence: int, payload: bytes) -> list[bytes]:
        self.received += 1
        if self._next is None:
            self._next = self._highest = sequence
        extended = self._extend(sequence)
        if extended - self._next > 0x4000:  # the source restarted its numbering: start over
            self.resets += 1
            out = self.flush()
            self._next = extended
            self._highest = extended
            self._pending[extended] = payload
            return out + self._drain()
        if extended < self._next:
            self.late += 1
            return []
        if extended in self._pending:
            self.duplicates += 1
            return []
        self._pending[extended] = payload
        out = self._drain()
        while len(self._pending) > self.depth:
            lowest = min(self._pending)
            self.lost += lowest - self._next
            self._next = lowest
            out += self._drain()
        return out

    def flush(self) -> list[bytes]:
        """Everything still waiting, in order (gaps counted as lost)."""
        out: list[bytes] = []
        while self._pending:
            lowest = min(self._pending)
            assert self._next is not None
            self.lost += lowest - self._next
            self._next = lowest
            out += self._drain()
        return out

    def _drain(self) -> list[bytes]:
        out: list[bytes] = []
        while self._next is not None and self._next in self._pending:
            out.append(self._pending.pop(self._next))
            self._next += 1
        return out


class Watchdog:
    """Ends a session whose source went quiet: no RTSP message for ``rtsp_timeout`` seconds (sources
    send M16 every 20–25 s), or no RTP for ``rtp_timeout`` seconds while playing."""

    def __init__(self, now: float, *, rtsp_timeout: float = 70.0, rtp_timeout: float = 10.0,
                 first_rtp_timeout: float = 15.0) -> None:
        self.rtsp_timeout = rtsp_timeout
        self.rtp_timeout = rtp_timeout
        self.first_rtp_timeout = first_rtp_timeout
        self._last_rtsp = now
        self._last_rtp: float | None = None
        self._playing_since: float | None = None

    def rtsp(self, now: float) -> None:
        self._last_rtsp = now

    def rtp(self, now: float) -> None:
        self._last_rtp = now

    def playing(self, now: float) -> None:
        self._playing_since = now

    def paused(self) -> None:
        self._playing_since = None
        self._last_rtp = None

    def expired(self, now: float) -> str | None:
        """Why the session should end now, or ``None``."""
        if now - self._last_rtsp > self.rtsp_timeout:
            return f"no RTSP message from the source for {self.rtsp_timeout:.0f} s"
        if self._playing_since is None:
            return None
        if self._last_rtp is None:
            if now - self._playing_since > self.first_rtp_timeout:
                return f"no media {self.first_rtp_timeout:.0f} s after PLAY"
        elif now - max(self._last_rtp, self._playing_since) > self.rtp_timeout:
            return f"no media for {self.rtp_timeout:.0f} s"
        return None
