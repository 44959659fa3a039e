"""Codec data of the mirror stream, sans-I/O: ``avcC`` (H.264) and ``hvcC`` (H.265) records to
Annex-B parameter sets, and AVCC video payloads (NAL units behind big-endian length prefixes) to
Annex-B access units, which every decoder of the core accepts without extradata conventions.

Declared with construct (never compiled); every count and length comes from the sender and is
bounded by the record it sits in. A payload whose NAL lengths do not add up to its size, or whose
first NAL has the forbidden bit set, is refused: after decryption that is how a wrong key shows.
"""

from __future__ import annotations

import attrs
from construct import (
    Array,
    BitsInteger,
    BitStruct,
    Bytes,
    Const,
    ConstructError,
    Flag,
    GreedyBytes,
    Int8ub,
    Int16ub,
    Prefixed,
    PrefixedArray,
    Struct,
    this,
)

from receiver_core.errors import RemoteProtocolError

__all__ = ["CodecConfig", "parse_avcc", "parse_hvcc", "parse_codec_data", "avcc_to_annexb", "START_CODE",
           "split_annexb", "annexb_to_avcc", "build_avcc", "build_hvcc",
           "MAX_PARAMETER_SETS"]

START_CODE = b"\x00\x00\x00\x01"
MAX_PARAMETER_SETS = 16  # per array; real streams carry 1 each

NalUnit = Prefixed(Int16ub, GreedyBytes)

AvcC = Struct(
    "version" / Const(1, Int8ub),
    "profile" / Int8ub,
    "compatibility" / Int8ub,
    "level" / Int8ub,
    "length_size_minus_one" / BitStruct("reserved" / BitsInteger(6), "value" / BitsInteger(2)),
    "sps_count" / BitStruct("reserved" / BitsInteger(3), "value" / BitsInteger(5)),
    "sps" / Array(this.sps_count.value, NalUnit),
    "pps" / PrefixedArray(Int8ub, NalUnit),
    "extension" / GreedyBytes,  # high profiles add chroma/bit-depth fields: not needed for decoding
)

HvcArray = Struct(
    "header" / BitStruct("completeness" / Flag, "reserved" / Flag, "nal_type" / BitsInteger(6)),
    "nalus" / PrefixedArray(Int16ub, NalUnit),
)

HvcC = Struct(
    "version" / Const(1, Int8ub),
    "general" / Bytes(20),  # profile space/tier/idc, compatibility flags, constraint flags, level, ...
    "length_size_minus_one" / BitStruct("reserved" / BitsInteger(6), "value" / BitsInteger(2)),
    "arrays" / PrefixedArray(Int8ub, HvcArray),
    "rest" / GreedyBytes,
)


@attrs.frozen
class CodecConfig:
    """What a codec packet says: ``codec`` (``h264``/``h265``), the Annex-B parameter sets, the
    NAL length size of the video payloads, and the raw record."""

    codec: str
    parameter_sets: bytes
    nal_length_size: int
    record: bytes = attrs.field(repr=False)


def _check_counts(counts: list[int]) -> None:
    if any(count > MAX_PARAMETER_SETS for count in counts):
        raise RemoteProtocolError("too many parameter sets in the codec record")


def parse_avcc(record: bytes) -> CodecConfig:
    try:
        fields = AvcC.parse(record)
    except ConstructError as exc:
        raise RemoteProtocolError(f"malformed avcC record: {str(exc).splitlines()[0]}") from None
    _check_counts([len(fields.sps), len(fields.pps)])
    if not fields.sps or not fields.pps:
        raise RemoteProtocolError("avcC record without SPS or PPS")
    if any(not n or n[0] & 0x1F != 7 for n in fields.sps) or any(not n or n[0] & 0x1F != 8 for n in fields.pps):
        raise RemoteProtocolError("avcC record whose SPS/PPS are not NAL types 7/8")
    nals = [bytes(n) for n in list(fields.sps) + list(fields.pps)]
    return CodecConfig("h264", _annexb(nals), fields.length_size_minus_one.value + 1, record)


def parse_hvcc(record: bytes) -> CodecConfig:
    try:
        fields = HvcC.parse(record)
    except ConstructError as exc:
        raise RemoteProtocolError(f"malformed hvcC record: {str(exc).splitlines()[0]}") from None
    if len(fields.arrays) > MAX_PARAMETER_SETS:
        raise RemoteProtocolError("too many NAL arrays in the hvcC record")
    _check_counts([len(a.nalus) for a in fields.arrays])
    nals = [bytes(n) for a in fields.arrays for n in a.nalus]
    kinds = {a.header.nal_type for a in fields.arrays if a.nalus}
    if not {32, 33, 34} <= kinds:  # VPS, SPS, PPS
        raise RemoteProtocolError("hvcC record without VPS, SPS and PPS")
    return CodecConfig("h265", _annexb(nals), fields.length_size_minus_one.value + 1, record)


def _hvcc_in_sample_entry(payload: bytes) -> bytes:
    """UxPlay reports H.265 codec packets as an ``hvc1`` sample entry (``hvc1`` at offset 4) that
    holds the ``hvcC`` box; return that box's body. [reported, not verified with a device]"""
    at = payload.find(b"hvcC", 8)
    if at < 4:
        raise RemoteProtocolError("hvc1 codec packet without an hvcC box")
    size = int.from_bytes(payload[at - 4:at], "big")
    if not 8 < size <= len(payload) - (at - 4):
        raise RemoteProtocolError("hvcC box size runs past the codec packet")
    return payload[at + 4:at - 4 + size]


def parse_codec_data(payload: bytes, *, h265_allowed: bool) -> CodecConfig:
    """Codec packet payload to a config. Senders put an ``avcC`` record (H.264) or, with feature
    bit 42 advertised, an H.265 ``hvcC`` record (bare, or inside an ``hvc1`` sample entry). Both
    records start with version 1; the avcC reading checks its NAL types, so an hvcC does not pass."""
    if not payload:
        raise RemoteProtocolError("empty codec packet: the sender wants a codec the box did not offer",
                                  status_hint=415)
    if payload[4:8] == b"hvc1":
        if not h265_allowed:
            raise RemoteProtocolError("H.265 codec packet while H.265 is off", status_hint=415)
        return parse_hvcc(_hvcc_in_sample_entry(payload))
    if payload[:1] != b"\x01":
        raise RemoteProtocolError("codec record version is not 1")
    try:
        return parse_avcc(payload)
    except RemoteProtocolError:
        if not h265_allowed:
            raise
    return parse_hvcc(payload)


def _annexb(nals: list[bytes]) -> bytes:
    if any(not nal or nal[0] & 0x80 for nal in nals):
        raise RemoteProtocolError("empty NAL unit or forbidden bit set in the codec record")
    return b"".join(START_CODE + nal for nal in nals)


def avcc_to_annexb(payload: bytes, length_size: int = 4, *, max_nals: int = 1024) -> bytes:
    """NAL units behind big-endian length prefixes to start-code separated ones.

    Refuses lengths that run past the payload, empty NAL units and set forbidden bits: with an
    encrypted stream those mean the key or keystream position is wrong."""
    if length_size not in (1, 2, 4):
        raise RemoteProtocolError(f"NAL length size {length_size} is not 1, 2 or 4")
    out = bytearray()
    position, count, size = 0, 0, len(payload)
    while position < size:
        count += 1
        if count > max_nals:
            raise RemoteProtocolError("too many NAL units in one mirror packet")
        if position + length_size > size:
            raise RemoteProtocolError("truncated NAL length in a mirror packet")
        length = int.from_bytes(payload[position:position + length_size], "big")
        position += length_size
        if length == 0 or position + length > size:
            raise RemoteProtocolError("NAL length does not match the mirror packet (wrong key?)")
        if payload[position] & 0x80:
            raise RemoteProtocolError("forbidden bit set in a NAL unit (wrong key?)")
        out += START_CODE
        out += payload[position:position + length]
        position += length
    return bytes(out)


# ------------------------------------------------------------------------ sender side (tests, emulated sender)


def split_annexb(data: bytes) -> list[bytes]:
    """Annex-B (3- or 4-byte start codes) to NAL units."""
    nals, start, i, n = [], -1, 0, len(data)
    while i + 3 <= n:
        if data[i:i + 3] == b"\x00\x00\x01":
            if start >= 0:
                nals.append(data[start:i].rstrip(b"\x00") if i > start else b"")
            start = i + 3
            i += 3
        else:
            i += 1
    if start >= 0:
        nals.append(data[start:])
    return [nal for nal in nals if nal]


def annexb_to_avcc(data: bytes) -> bytes:
    return b"".join(len(nal).to_bytes(4, "big") + nal for nal in split_annexb(data))


def build_avcc(sps: bytes, pps: bytes) -> bytes:
    return bytes(AvcC.build({
        "version": 1, "profile": sps[1], "compatibility": sps[2], "level": sps[3],
        "length_size_minus_one": {"reserved": 0x3F, "value": 3},
        "sps_count": {"reserved": 0x7, "value": 1}, "sps": [sps], "pps": [pps], "extension": b"",
    }))


def build_hvcc(vps: bytes, sps: bytes, pps: bytes) -> bytes:
    """A minimal hvcC; the general profile fields are copied from the SPS's profile_tier_level."""
    general = sps[3:15] + b"\xf0\x00\xfc\xfd\xf8\xf8\x00\x00"
    arrays = [{"header": {"completeness": True, "reserved": False, "nal_type": kind}, "nalus": [nal]}
              for kind, nal in ((32, vps), (33, sps), (34, pps))]
    return bytes(HvcC.build({"version": 1, "general": general[:20],
                             "length_size_minus_one": {"reserved": 0x0F, "value": 3},
                             "arrays": arrays, "rest": b""}))
