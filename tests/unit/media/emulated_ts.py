"""emulated_ts: TS packets, PSI sections and PES packets built by hand, for cases no real muxer
here produces (LPCM as Wi-Fi Display sends it, stuffing in mid-PES, bad CRCs, scrambling).
Written from ISO/IEC 13818-1, independently of the parser under test (its own CRC, its own bits)."""

from __future__ import annotations

import struct


def crc32_mpeg2(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = (crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def section(table_id: int, extension: int, body: bytes, version: int = 0, current: bool = True) -> bytes:
    length = 5 + len(body) + 4
    head = struct.pack("!BHHBBB", table_id, 0xB000 | length, extension,
                       0xC0 | (version << 1) | int(current), 0, 0)
    data = head + body
    return data + struct.pack("!I", crc32_mpeg2(data))


def pat(programs: dict[int, int], version: int = 0) -> bytes:
    body = b"".join(struct.pack("!HH", number, 0xE000 | pid) for number, pid in programs.items())
    return section(0x00, 1, body, version)


def pmt(program: int, pcr_pid: int, streams: list[tuple[int, int]], version: int = 0) -> bytes:
    body = struct.pack("!HH", 0xE000 | pcr_pid, 0xF000)
    body += b"".join(struct.pack("!BHH", stream_type, 0xE000 | pid, 0xF000) for stream_type, pid in streams)
    return section(0x02, program, body, version)


def pts_bytes(pts: int) -> bytes:
    return bytes([0x21 | ((pts >> 29) & 0x0E), (pts >> 22) & 0xFF, 0x01 | ((pts >> 14) & 0xFE),
                  (pts >> 7) & 0xFF, 0x01 | ((pts << 1) & 0xFE)])


def pes(stream_id: int, payload: bytes, pts: int | None = None, bounded: bool = False) -> bytes:
    optional = pts_bytes(pts) if pts is not None else b""
    header = bytes([0x80, 0x80 if pts is not None else 0x00, len(optional)]) + optional
    length = len(header) + len(payload) if bounded else 0
    return b"\x00\x00\x01" + bytes([stream_id]) + struct.pack("!H", length) + header + payload


class Packetizer:
    """Cuts data into 188-byte packets of one PID; continuity counters kept per PID."""

    def __init__(self) -> None:
        self.cc: dict[int, int] = {}

    def packet(self, pid: int, payload: bytes, *, start: bool = False, stuffing: int = 0,
               scrambled: bool = False, transport_error: bool = False) -> bytes:
        """One packet: ``payload`` (at most 184 bytes minus the adaptation field) and ``stuffing`` bytes."""
        cc = self.cc.get(pid, 0)
        self.cc[pid] = (cc + 1) % 16
        room = 184 - len(payload)
        assert room >= 0
        b1 = (0x80 if transport_error else 0) | (0x40 if start else 0) | (pid >> 8)
        scrambling = 0x80 if scrambled else 0
        if room == 0 and not stuffing:
            return bytes([0x47, b1, pid & 0xFF, scrambling | 0x10 | cc]) + payload
        adaptation = bytes([room - 1]) + (b"\x00" + b"\xff" * (room - 2) if room >= 2 else b"")
        return bytes([0x47, b1, pid & 0xFF, scrambling | 0x30 | cc]) + adaptation + payload

    def section(self, pid: int, data: bytes) -> list[bytes]:
        data = b"\x00" + data  # pointer_field
        out = []
        for offset in range(0, len(data), 184):
            chunk = data[offset:offset + 184]
            out.append(self.packet(pid, chunk + b"\xff" * (184 - len(chunk)), start=offset == 0))
        return out

    def pes(self, pid: int, data: bytes) -> list[bytes]:
        """A PES packet in as many packets as needed; the last one padded with adaptation stuffing."""
        out = []
        for offset in range(0, len(data), 184):
            out.append(self.packet(pid, data[offset:offset + 184], start=offset == 0))
        return out
