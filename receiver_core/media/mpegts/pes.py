"""PES packet headers (ISO/IEC 13818-1 §2.4.3.6), declared with construct."""

from __future__ import annotations

import attrs
import construct as c

from .framing import MpegTsError

__all__ = ["PesHeader", "parse_pes_header", "PES_MIN_HEADER"]

PES_MIN_HEADER = 9
#: stream ids whose PES packets carry no optional header (program_stream_map, padding, private_stream_2, ...)
_NO_OPTIONAL_HEADER = frozenset({0xBC, 0xBE, 0xBF, 0xF0, 0xF1, 0xF2, 0xF8, 0xFF})

PesStart = c.Struct(
    "start_code" / c.Const(b"\x00\x00\x01"),
    "stream_id" / c.Int8ub,
    "packet_length" / c.Int16ub,
)

PesOptional = c.BitStruct(
    "marker" / c.Const(2, c.BitsInteger(2)),
    "scrambling_control" / c.BitsInteger(2),
    "priority" / c.Flag,
    "data_alignment" / c.Flag,
    "copyright" / c.Flag,
    "original" / c.Flag,
    "pts_dts_flags" / c.BitsInteger(2),
    "escr" / c.Flag,
    "es_rate" / c.Flag,
    "dsm_trick_mode" / c.Flag,
    "additional_copy_info" / c.Flag,
    "crc" / c.Flag,
    "extension" / c.Flag,
    "header_data_length" / c.BitsInteger(8),
)

Timestamp = c.BitStruct(
    "prefix" / c.BitsInteger(4),
    "high" / c.BitsInteger(3),
    "marker1" / c.BitsInteger(1),
    "middle" / c.BitsInteger(15),
    "marker2" / c.BitsInteger(1),
    "low" / c.BitsInteger(15),
    "marker3" / c.BitsInteger(1),
)


@attrs.frozen
class PesHeader:
    stream_id: int
    #: bytes after the packet_length field (0: unbounded, allowed for video)
    packet_length: int
    #: where the elementary stream data starts
    header_size: int
    pts: int | None
    scrambled: bool


def parse_pes_header(data: bytes | bytearray) -> PesHeader | None:
    """The header at the start of ``data``; ``None`` while too few bytes have arrived."""
    if len(data) < 6:
        return None
    try:
        start = PesStart.parse(bytes(data[:6]))
    except c.ConstructError:
        raise MpegTsError("PES packet without a start code prefix") from None
    if start.stream_id in _NO_OPTIONAL_HEADER:
        return PesHeader(start.stream_id, start.packet_length, 6, None, False)
    if len(data) < PES_MIN_HEADER:
        return None
    try:
        optional = PesOptional.parse(bytes(data[6:9]))
    except c.ConstructError:
        raise MpegTsError("PES optional header without its '10' marker bits") from None
    size = PES_MIN_HEADER + optional.header_data_length
    if start.packet_length and size > 6 + start.packet_length:
        raise MpegTsError("PES header longer than the PES packet")
    if len(data) < size:
        return None
    pts = None
    if optional.pts_dts_flags & 0b10:
        if optional.header_data_length < 5:
            raise MpegTsError("PES header too short for its PTS")
        stamp = Timestamp.parse(bytes(data[9:14]))
        pts = (stamp.high << 30) | (stamp.middle << 15) | stamp.low
    return PesHeader(start.stream_id, start.packet_length, size, pts, optional.scrambling_control != 0)
