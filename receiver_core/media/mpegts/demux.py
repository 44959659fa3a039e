"""TS packets -> PAT/PMT -> PES -> access units, each handed out as soon as it is complete.

A PES packet (one access unit, or a few audio frames) is complete, earliest rule first:

1. when its ``PES_packet_length`` is reached (audio usually sets it);
2. when a TS packet of its PID pads its adaptation field with stuffing bytes: muxers (FFmpeg,
   GStreamer ``mpegtsmux``) stuff only the last packet of a PES so that the next one starts in a
   fresh packet. If more payload of the same PES follows anyway, the rule is switched off for
   that PID (counted in ``stuffing_misses``, the unit is marked damaged for the decoder);
3. when the next PES on the PID starts (the only rule the standard guarantees for unbounded
   video PES; it costs one frame interval and is the fallback).

Nothing else is waited for: no parser looks ahead at the next frame. RTP's marker bit is not
used: RFC 2250 gives it no frame meaning for MP2T, and FFmpeg and GStreamer leave it clear.
"""

from __future__ import annotations

from fractions import Fraction

import attrs

from ..caps import AUDIO, VIDEO, MediaCaps, MediaPacket
from .elementary import STREAM_TYPES, ElementaryStream, make_stream
from .framing import TS_PACKET_SIZE, MpegTsError
from .pes import PesHeader, parse_pes_header
from .psi import PAT_PID, EsInfo, PmtInfo, Program, SectionAssembler, parse_pat, parse_pmt

__all__ = ["ProgramChanged", "AccessUnit", "Event", "DemuxCounters", "TsDemuxer", "MAX_UNIT_BYTES"]

MAX_UNIT_BYTES = {VIDEO: 4 * 1024 * 1024, AUDIO: 256 * 1024}
NULL_PID = 0x1FFF
TIME_BASE = Fraction(1, 90000)


@attrs.frozen
class ProgramChanged:
    """The chosen program's PMT was read (first time, or it changed): what it carries and what is used."""

    program_number: int
    pmt_pid: int
    streams: tuple[EsInfo, ...]
    video: EsInfo | None
    audio: EsInfo | None


@attrs.frozen
class AccessUnit:
    """One complete access unit. ``caps`` are its stream's current caps; ``packet.caps`` is set
    only when they changed since the previous unit of that stream (a new SPS, another codec)."""

    kind: str
    pid: int
    caps: MediaCaps
    packet: MediaPacket


Event = ProgramChanged | AccessUnit


@attrs.define
class DemuxCounters:
    transport_errors: int = 0      # transport_error_indicator set by the sender's path
    scrambled: int = 0             # TS or PES scrambling: cannot be decoded
    invalid_packets: int = 0       # reserved adaptation_field_control, adaptation field too long
    continuity_errors: int = 0     # a gap in a PID's continuity counter: packets were lost
    sync_damage: int = 0           # PES being collected when the byte stream lost sync (dropped)
    duplicates: int = 0            # a repeated packet (same continuity counter), skipped
    psi_errors: int = 0            # PAT/PMT sections with a bad CRC or layout, or cut short
    pes_errors: int = 0            # PES headers that do not parse, PES shorter than announced
    units_dropped: int = 0         # access units lost with their PES (loss, damage, oversize)
    oversize: int = 0              # PES larger than the bound for its kind
    orphan_bytes: int = 0          # payload before the first PES start of a PID (joined mid-stream)
    stuffing_misses: int = 0       # rule 2 ended a PES that went on: rule switched off for that PID
    waiting_for_config: int = 0    # video units before the first parameter sets (no keyframe yet)
    es_malformed: int = 0          # ADTS/LPCM/SPS data that did not parse
    units: int = 0                 # access units handed out
    ended_by_length: int = 0       # PES completed by rule 1 (PES_packet_length)
    ended_by_stuffing: int = 0     # ... by rule 2 (stuffing in its last TS packet)
    ended_by_next_start: int = 0   # ... by rule 3 (the next PES start: one frame interval later)


class _Track:
    """One selected elementary stream: PES assembly state and its codec handler."""

    def __init__(self, kind: str, info: EsInfo, es: ElementaryStream) -> None:
        self.kind = kind
        self.limit = MAX_UNIT_BYTES[kind]
        self.info = info
        self.es = es
        self.buf = bytearray()
        self.active = False
        self.header: PesHeader | None = None
        self.trust_stuffing = True
        self.ended_by_stuffing = False
        self.damaged = False  # the next unit handed out follows lost or damaged data
        self.malformed_seen = 0


class TsDemuxer:
    """Sans-I/O: ``packet(bytes188, arrival, events)`` appends the events that packet completes."""

    def __init__(self) -> None:
        self.counters = DemuxCounters()
        self.program: Program | None = None
        self.pmt: PmtInfo | None = None
        self.tracks: dict[str, _Track] = {}
        self._cc: dict[int, int] = {}
        self._pat = SectionAssembler(self._on_pat)
        self._pmt_assembler: SectionAssembler | None = None
        self._pids: dict[int, _Track] = {}
        self._last_section: dict[int, bytes] = {}
        self._events: list[Event] = []
        self._announced: dict[str, MediaCaps] = {}  # per kind: survives a change of PID or codec

    # ------------------------------------------------------------------------------------ packets

    def packets(self, packets: list[bytes], arrival: float, events: list[Event]) -> None:
        """Packets in stream order (an empty ``bytes`` = sync was lost there, see ``TsSync``).

        Most packets continue a PES that is being collected: payload only, in order. They take the
        short path below (the same checks as ``packet``, inlined: it is the per-packet hot loop).
        """
        pids, cc_of, packet = self._pids, self._cc, self.packet
        for p in packets:
            if not p:
                self.sync_lost()
                continue
            b1 = p[1]
            track = pids.get(((b1 & 0x1F) << 8) | p[2])
            b3 = p[3]
            # no transport error, no unit start, not scrambled, payload only
            if track is not None and not b1 & 0xC0 and b3 & 0xF0 == 0x10 and track.header is not None:
                pid = ((b1 & 0x1F) << 8) | p[2]
                last = cc_of.get(pid)
                if last is not None and b3 & 0x0F == (last + 1) & 0x0F:
                    cc_of[pid] = b3 & 0x0F
                    track.buf += p[4:]
                    if track.header.packet_length or len(track.buf) > track.limit:  # else: nothing ends here
                        self._check_end(track, False, arrival, events)
                    continue
            packet(p, arrival, events)

    def packet(self, p: bytes, arrival: float, events: list[Event]) -> None:
        counters = self.counters
        b1 = p[1]
        if b1 & 0x80:
            counters.transport_errors += 1
            return
        pid = ((b1 & 0x1F) << 8) | p[2]
        if pid == NULL_PID:
            return
        track = self._pids.get(pid)
        is_pmt = self._pmt_assembler is not None and self.program is not None and pid == self.program.pmt_pid
        if track is None and pid != PAT_PID and not is_pmt:
            return
        b3 = p[3]
        afc = (b3 >> 4) & 3
        if afc == 0:
            counters.invalid_packets += 1
            return
        offset, stuffed, discontinuity = 4, False, False
        if afc & 2:
            length = p[4]
            if length > (182 if afc & 1 else 183):
                counters.invalid_packets += 1
                return
            if length:
                flags = p[5]
                discontinuity = bool(flags & 0x80)
                stuffed = length > self._adaptation_used(p, flags, length)
            else:
                stuffed = True  # an empty adaptation field is one byte of stuffing
            offset = 5 + length
        if not afc & 1:
            return  # adaptation field only: no payload, the continuity counter does not move
        if b3 & 0xC0:
            counters.scrambled += 1
            return
        cc = b3 & 0x0F
        last = self._cc.get(pid)
        self._cc[pid] = cc
        if last is not None and not discontinuity:
            if cc == last:
                counters.duplicates += 1
                return
            if cc != (last + 1) & 0x0F:
                counters.continuity_errors += 1
                self._lost(pid, track)
        unit_start = bool(b1 & 0x40)
        payload = p[offset:TS_PACKET_SIZE]
        self._events = events
        if track is not None:
            self._pes(track, payload, unit_start, stuffed, arrival, events)
        elif pid == PAT_PID:
            self._pat.feed(payload, unit_start)
        elif self._pmt_assembler is not None:
            self._pmt_assembler.feed(payload, unit_start)

    def sync_lost(self) -> None:
        """The byte stream lost sync: whatever is being collected may hold bytes of another packet."""
        self.counters.sync_damage += sum(1 for track in self.tracks.values() if track.active)
        for pid, track in self._pids.items():
            self._lost(pid, track)
        self._pat.reset()
        if self._pmt_assembler is not None:
            self._pmt_assembler.reset()
        self._cc.clear()  # the next packet of each PID starts a new count

    @staticmethod
    def _adaptation_used(p: bytes, flags: int, length: int) -> int:
        """Bytes of the adaptation field taken by its flags and fields (the rest is stuffing)."""
        used = 1 + (6 if flags & 0x10 else 0) + (6 if flags & 0x08 else 0) + (1 if flags & 0x04 else 0)
        if flags & 0x02 and used < length:  # transport_private_data
            used += 1 + p[5 + used]
        if flags & 0x01 and used < length:  # adaptation_field_extension
            used += 1 + p[5 + used]
        return used

    def _lost(self, pid: int, track: _Track | None) -> None:
        if track is not None:
            if track.active:
                self._drop(track)
            track.damaged = True
            track.ended_by_stuffing = False
        elif pid == PAT_PID:
            self._pat.reset()
        elif self._pmt_assembler is not None:
            self._pmt_assembler.reset()

    # ------------------------------------------------------------------------------------ PES

    def _pes(self, track: _Track, payload: bytes, unit_start: bool, stuffed: bool, arrival: float,
             events: list[Event]) -> None:
        if unit_start:
            if track.active:
                self.counters.ended_by_next_start += 1
                self._complete(track, arrival, events)  # rule 3
            track.buf = bytearray(payload)
            track.active, track.header, track.ended_by_stuffing = True, None, False
        elif not track.active:
            if track.ended_by_stuffing:  # rule 2 was wrong for this sender: the PES went on
                track.ended_by_stuffing, track.trust_stuffing, track.damaged = False, False, True
                self.counters.stuffing_misses += 1
            self.counters.orphan_bytes += len(payload)
            return
        else:
            track.buf += payload
        if track.header is None:
            try:
                track.header = parse_pes_header(track.buf)
            except MpegTsError:
                self.counters.pes_errors += 1
                self._drop(track)
                track.damaged = True
                return
            if track.header is None:
                if len(track.buf) > track.limit:
                    self._oversize(track)
                return
        self._check_end(track, stuffed, arrival, events)

    def _check_end(self, track: _Track, stuffed: bool, arrival: float, events: list[Event]) -> None:
        """Rules 1 and 2, and the size bound, after payload was added to an active PES with a header."""
        assert track.header is not None
        length = track.header.packet_length
        if length and len(track.buf) >= 6 + length:
            self.counters.ended_by_length += 1
            self._complete(track, arrival, events)  # rule 1
        elif len(track.buf) > track.limit:
            self._oversize(track)
        elif stuffed and track.trust_stuffing and not length:
            self.counters.ended_by_stuffing += 1
            self._complete(track, arrival, events)  # rule 2
            track.ended_by_stuffing = True

    def _oversize(self, track: _Track) -> None:
        self.counters.oversize += 1
        self._drop(track)
        track.damaged = True

    def _drop(self, track: _Track) -> None:
        track.buf = bytearray()
        track.active, track.header = False, None
        self.counters.units_dropped += 1

    def _complete(self, track: _Track, arrival: float, events: list[Event]) -> None:
        header, buf = track.header, track.buf
        track.buf = bytearray()
        track.active, track.header = False, None
        if header is None:
            self.counters.pes_errors += 1
            self.counters.units_dropped += 1
            track.damaged = True
            return
        end = 6 + header.packet_length if header.packet_length else len(buf)
        if len(buf) < end:
            self.counters.pes_errors += 1
            self.counters.units_dropped += 1
            track.damaged = True
            return
        if header.scrambled:
            self.counters.scrambled += 1
            self.counters.units_dropped += 1
            return
        es = track.es
        units = es.units(bytes(buf[header.header_size:end]), header.pts)
        if es.malformed != track.malformed_seen:
            self.counters.es_malformed += es.malformed - track.malformed_seen
            track.malformed_seen = es.malformed
        for unit in units:
            if unit.caps is None:
                self.counters.waiting_for_config += 1
                continue
            announced = self._announced.get(track.kind)
            changed = announced is not None and unit.caps != announced
            self._announced[track.kind] = unit.caps
            packet = MediaPacket(unit.data, pts=unit.pts, time_base=TIME_BASE, keyframe=unit.keyframe,
                                 arrival=arrival, discontinuity=track.damaged,
                                 caps=unit.caps if changed else None)
            track.damaged = False
            self.counters.units += 1
            events.append(AccessUnit(track.kind, track.info.pid, unit.caps, packet))

    # ------------------------------------------------------------------------------------ PSI

    def _unchanged(self, pid: int, section: bytes) -> bool:
        """Tables repeat every ~100 ms: an identical section is neither CRC-checked nor parsed again."""
        return self._last_section.get(pid) == section

    def _on_pat(self, section: bytes) -> None:
        if self._unchanged(PAT_PID, section):
            return
        try:
            _version, current, programs = parse_pat(section)
        except MpegTsError:
            self.counters.psi_errors += 1
            return
        if not current:
            return
        self._last_section[PAT_PID] = section
        if not programs:
            return
        chosen = min(programs, key=lambda program: program.number)
        if chosen != self.program:
            if self.program is not None:  # only the followed PMT's last section is kept: bounded
                self._last_section.pop(self.program.pmt_pid, None)
            self.program = chosen
            self.pmt = None
            self._pmt_assembler = SectionAssembler(self._on_pmt)
            self._last_section.pop(chosen.pmt_pid, None)
            self._select(None)

    def _on_pmt(self, section: bytes) -> None:
        program = self.program
        if program is None or self._unchanged(program.pmt_pid, section):
            return
        try:
            current, pmt = parse_pmt(section)
        except MpegTsError:
            self.counters.psi_errors += 1
            return
        if not current or pmt.program_number != program.number:
            return
        self._last_section[program.pmt_pid] = section
        if pmt == self.pmt:
            return
        self.pmt = pmt
        self._select(pmt)
        tracks = self.tracks
        self._events.append(ProgramChanged(program.number, program.pmt_pid, pmt.streams,
                                           tracks[VIDEO].info if VIDEO in tracks else None,
                                           tracks[AUDIO].info if AUDIO in tracks else None))

    def _select(self, pmt: PmtInfo | None) -> None:
        """Follow the first decodable video and audio stream of the PMT; keep tracks that did not change."""
        reserved = {PAT_PID, NULL_PID} | ({self.program.pmt_pid} if self.program else set())
        chosen: dict[str, EsInfo] = {}
        for info in pmt.streams if pmt is not None else ():
            kind_codec = STREAM_TYPES.get(info.stream_type)
            if kind_codec is None or info.pid in reserved or info.pid < 0x10:
                continue
            chosen.setdefault(kind_codec[0], info)
        tracks: dict[str, _Track] = {}
        for kind, info in chosen.items():
            old = self.tracks.get(kind)
            if old is not None and (old.info.pid, old.info.stream_type) == (info.pid, info.stream_type):
                tracks[kind] = old
                continue
            es = make_stream(info.stream_type)
            assert es is not None
            tracks[kind] = _Track(kind, info, es)
        self.tracks = tracks
        self._pids = {track.info.pid: track for track in tracks.values()}
