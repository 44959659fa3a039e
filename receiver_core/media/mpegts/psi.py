"""PSI: the PAT and PMT sections (ISO/IEC 13818-1 §2.4.4), declared with construct, CRC-checked.

``SectionAssembler`` collects one PID's sections across TS packets (``pointer_field``, sections
spanning packets, several sections in one packet) with a hard size bound. PIDs and program
numbers come from the tables themselves; only the standard's fixed values are constants here
(PAT on PID 0, table ids 0x00 and 0x02).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import construct as c

from .framing import MpegTsError

__all__ = [
    "PAT_PID",
    "PAT_TABLE_ID",
    "PMT_TABLE_ID",
    "MAX_SECTION",
    "Program",
    "EsInfo",
    "PmtInfo",
    "crc32_mpeg",
    "parse_pat",
    "parse_pmt",
    "SectionAssembler",
]

PAT_PID = 0x0000
PAT_TABLE_ID = 0x00
PMT_TABLE_ID = 0x02
#: 3 header bytes + the largest section_length PAT and PMT may use (1021)
MAX_SECTION = 3 + 1021
#: programs and elementary streams looked at per table (more are ignored)
MAX_PROGRAMS = 64
MAX_STREAMS = 32

# one long-form section: header, table body, CRC_32 (the body is parsed by the table's own struct)
LongSection = c.Struct(
    "table_id" / c.Int8ub,
    "flags" / c.BitStruct(
        "section_syntax_indicator" / c.Flag,
        "zero" / c.Flag,
        "reserved" / c.BitsInteger(2),
        "section_length" / c.BitsInteger(12),
    ),
    c.Check(c.this.flags.section_length >= 9),
    c.Check(c.this.flags.section_length <= 1021),
    "table_id_extension" / c.Int16ub,
    "version" / c.BitStruct(
        "reserved" / c.BitsInteger(2),
        "version_number" / c.BitsInteger(5),
        "current_next_indicator" / c.Flag,
    ),
    "section_number" / c.Int8ub,
    "last_section_number" / c.Int8ub,
    "body" / c.Bytes(c.this.flags.section_length - 9),
    "crc32" / c.Int32ub,
)

PatEntry = c.BitStruct(
    "program_number" / c.BitsInteger(16),
    "reserved" / c.BitsInteger(3),
    "pid" / c.BitsInteger(13),
)
PatBody = c.GreedyRange(PatEntry)

PmtStream = c.Struct(
    "stream_type" / c.Int8ub,
    "pids" / c.BitStruct(
        "reserved" / c.BitsInteger(3),
        "elementary_pid" / c.BitsInteger(13),
        "reserved2" / c.BitsInteger(4),
        "es_info_length" / c.BitsInteger(12),
    ),
    "descriptors" / c.Bytes(c.this.pids.es_info_length),
)
PmtBody = c.Struct(
    "head" / c.BitStruct(
        "reserved" / c.BitsInteger(3),
        "pcr_pid" / c.BitsInteger(13),
        "reserved2" / c.BitsInteger(4),
        "program_info_length" / c.BitsInteger(12),
    ),
    "program_info" / c.Bytes(c.this.head.program_info_length),
    "streams" / c.GreedyRange(PmtStream),
    c.Terminated,
)


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc32_mpeg(data: bytes) -> int:
    """CRC-32/MPEG-2 (polynomial 0x04C11DB7, not reflected, initial 0xFFFFFFFF, no final xor)."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
    return crc


@attrs.frozen
class Program:
    number: int
    pmt_pid: int


@attrs.frozen
class EsInfo:
    """One elementary stream of a PMT."""

    pid: int
    stream_type: int
    descriptors: bytes = b""


@attrs.frozen
class PmtInfo:
    program_number: int
    version: int
    pcr_pid: int
    streams: tuple[EsInfo, ...]


def _section(data: bytes, table_id: int) -> c.Container:
    if crc32_mpeg(data) != 0:  # the CRC over a whole section including its CRC_32 field is 0
        raise MpegTsError("PSI section CRC mismatch")
    try:
        section = LongSection.parse(data)
    except c.ConstructError as exc:
        raise MpegTsError(f"malformed PSI section: {exc}") from None
    if section.table_id != table_id:
        raise MpegTsError(f"table id {section.table_id:#04x} where {table_id:#04x} was expected")
    if not section.flags.section_syntax_indicator:
        raise MpegTsError("PSI section without section_syntax_indicator")
    return section


def parse_pat(data: bytes) -> tuple[int, bool, list[Program]]:
    """(version, current, programs) of one PAT section; program number 0 (the NIT) is left out."""
    section = _section(data, PAT_TABLE_ID)
    try:
        entries = PatBody.parse(section.body)
    except c.ConstructError as exc:
        raise MpegTsError(f"malformed PAT: {exc}") from None
    programs = [Program(e.program_number, e.pid) for e in entries[:MAX_PROGRAMS] if e.program_number != 0]
    return section.version.version_number, section.version.current_next_indicator, programs


def parse_pmt(data: bytes) -> tuple[bool, PmtInfo]:
    """(current, PMT) of one PMT section."""
    section = _section(data, PMT_TABLE_ID)
    try:
        body = PmtBody.parse(section.body)
    except c.ConstructError as exc:
        raise MpegTsError(f"malformed PMT: {exc}") from None
    streams = tuple(EsInfo(s.pids.elementary_pid, s.stream_type, bytes(s.descriptors))
                    for s in body.streams[:MAX_STREAMS])
    info = PmtInfo(section.table_id_extension, section.version.version_number, body.head.pcr_pid, streams)
    return section.version.current_next_indicator, info


class SectionAssembler:
    """Cuts one PID's TS payloads into complete sections and hands each to ``on_section``.

    Bounded: a section is never longer than ``MAX_SECTION``; anything else is dropped and counted.
    """

    def __init__(self, on_section: Callable[[bytes], None]) -> None:
        self.on_section = on_section
        self.dropped = 0
        self._buf = bytearray()
        self._active = False

    def reset(self) -> None:
        """Continuity lost: a section being collected cannot be completed."""
        if self._active and self._buf:
            self.dropped += 1
        self._buf.clear()
        self._active = False

    def feed(self, payload: bytes, unit_start: bool) -> None:
        if unit_start:
            if not payload:
                self.reset()
                return
            pointer = payload[0]
            if 1 + pointer > len(payload):
                self.reset()
                self.dropped += 1
                return
            if self._active:
                self._buf += payload[1:1 + pointer]
                self._drain(final=True)
            self._buf = bytearray(payload[1 + pointer:])
            self._active = True
            self._drain(final=False)
        elif self._active:
            self._buf += payload
            self._drain(final=False)

    def _drain(self, *, final: bool) -> None:
        buf = self._buf
        while self._active:
            if not buf or buf[0] == 0xFF:  # stuffing: nothing more in this packet
                buf.clear()
                self._active = False
                return
            if len(buf) < 3:
                break
            total = 3 + (((buf[1] & 0x0F) << 8) | buf[2])
            if total > MAX_SECTION:
                self.dropped += 1
                buf.clear()
                self._active = False
                return
            if len(buf) < total:
                break
            section = bytes(buf[:total])
            del buf[:total]
            self.on_section(section)
        if final and self._active:  # the previous section ended short of its length
            self.dropped += 1
            buf.clear()
            self._active = False
