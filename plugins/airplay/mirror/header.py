"""The mirror data stream framing, sans-I/O: ``128-byte little-endian header ‖ payload``.

Header (all integers little-endian): payload size (u32), payload type (u8), key-frame hint (u8),
option (2 bytes), NTP timestamp (u64: seconds ‖ fraction since the sender's boot, the PTS),
and for codec packets the picture size as f32 at 16/20 and the source/display sizes at 40..63.
Every size is bounded before it is used: a sender that lies about lengths or announces a picture
larger than ``MAX_DIMENSION`` is refused with a typed error.
"""

from __future__ import annotations

import enum
import math

import attrs
from construct import Bytes, Float32l, Int8ul, Int32ul, Int64ul, Padding, Struct

from receiver_core.errors import RemoteProtocolError

__all__ = ["HEADER_SIZE", "MAX_DIMENSION", "MirrorFramer", "MirrorHeader", "MirrorMessage", "PayloadType",
           "ResolutionRefused", "parse_header", "build_header"]

HEADER_SIZE = 128
MAX_DIMENSION = 8192  # a 16k x 16k picture is refused: no decoder/compositor here takes it
MAX_VIDEO_PAYLOAD = 8 * 1024 * 1024  # one access unit; a 4K IDR is well below this
MAX_CODEC_PAYLOAD = 64 * 1024  # avcC/hvcC: a few hundred bytes in practice
MAX_OTHER_PAYLOAD = 1024 * 1024  # type 5 reports (bplist + trailer, ~25 kB seen) and unknown types
KEY_HINT = 0x10

# declared, never compiled; floats are read for codec packets only
HeaderLayout = Struct(
    "payload_size" / Int32ul,
    "payload_type" / Int8ul,
    "key_hint" / Int8ul,
    "option" / Bytes(2),
    "ntp_timestamp" / Int64ul,
    "width" / Float32l,
    "height" / Float32l,
    Padding(16),
    "source_width" / Float32l,
    "source_height" / Float32l,
    Padding(8),
    "display_width" / Float32l,
    "display_height" / Float32l,
    Padding(64),
)
assert HeaderLayout.sizeof() == HEADER_SIZE


class PayloadType(enum.IntEnum):
    VIDEO = 0
    CODEC = 1
    HEARTBEAT = 2
    REPORT = 5


class ResolutionRefused(RemoteProtocolError):
    """The sender announced a picture size the box will not decode (zero, NaN or above the bound)."""


@attrs.frozen
class MirrorHeader:
    payload_size: int
    payload_type: int
    keyframe: bool
    option: bytes
    ntp_timestamp: int
    width: int = 0
    height: int = 0
    raw: bytes = attrs.field(default=b"", repr=False)  # the 128 header bytes (HomeKit AAD)

    @property
    def pts_seconds(self) -> float:
        return (self.ntp_timestamp >> 32) + (self.ntp_timestamp & 0xFFFFFFFF) / 2**32


@attrs.frozen
class MirrorMessage:
    header: MirrorHeader
    payload: bytes = attrs.field(repr=False)


def _dimension(value: float, what: str) -> int:
    if not math.isfinite(value) or not 1 <= value <= MAX_DIMENSION:
        raise ResolutionRefused(f"mirror {what} {value!r} outside 1..{MAX_DIMENSION}")
    return int(value)


def _payload_bound(kind: int) -> int:
    if kind == PayloadType.VIDEO:
        return MAX_VIDEO_PAYLOAD
    if kind == PayloadType.CODEC:
        return MAX_CODEC_PAYLOAD
    return MAX_OTHER_PAYLOAD


def parse_header(data: bytes) -> MirrorHeader:
    """One 128-byte header; the payload size is bounded per type, codec packets' size checked."""
    if len(data) != HEADER_SIZE:
        raise RemoteProtocolError(f"mirror header is {len(data)} bytes, not {HEADER_SIZE}")
    fields = HeaderLayout.parse(data)
    kind = fields.payload_type
    size = fields.payload_size
    if size > _payload_bound(kind):
        raise RemoteProtocolError(f"mirror payload of type {kind} announces {size} bytes")
    width = height = 0
    if kind == PayloadType.CODEC and size:
        width = _dimension(fields.width, "width")
        height = _dimension(fields.height, "height")
    return MirrorHeader(size, kind, bool(fields.key_hint & KEY_HINT), bytes(fields.option), fields.ntp_timestamp,
                        width, height, bytes(data))


def build_header(payload_size: int, payload_type: int, *, ntp_timestamp: int = 0, keyframe: bool = False,
                 option: bytes = b"\x00\x00", width: float = 0.0, height: float = 0.0) -> bytes:
    """A header as a sender writes it (the emulated sender and the tests use it)."""
    return bytes(HeaderLayout.build({
        "payload_size": payload_size, "payload_type": payload_type, "key_hint": KEY_HINT if keyframe else 0,
        "option": option, "ntp_timestamp": ntp_timestamp, "width": width, "height": height,
        "source_width": width, "source_height": height, "display_width": width, "display_height": height,
    }))


class MirrorFramer:
    """Bytes of the TCP stream in, whole messages out. Holds at most one header plus one payload."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._header: MirrorHeader | None = None
        self.messages = 0

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[MirrorMessage]:
        self._buffer += data
        out: list[MirrorMessage] = []
        while True:
            if self._header is None:
                if len(self._buffer) < HEADER_SIZE:
                    return out
                head = bytes(self._buffer[:HEADER_SIZE])
                del self._buffer[:HEADER_SIZE]
                try:
                    self._header = parse_header(head)
                except RemoteProtocolError:
                    self._buffer.clear()  # the stream cannot be resynchronised: drop all of it
                    raise
            size = self._header.payload_size
            if len(self._buffer) < size:
                return out
            out.append(MirrorMessage(self._header, bytes(self._buffer[:size])))
            del self._buffer[:size]
            self._header = None
            self.messages += 1
