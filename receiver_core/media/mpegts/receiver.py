"""``TsReceiver``: UDP datagrams of one sender in, MPEG-TS events out (the API plugins use)."""

from __future__ import annotations

from typing import Any

import attrs

from .demux import Event, TsDemuxer
from .framing import DatagramUnwrapper, MpegTsError, SequenceTracker, TsSync

__all__ = ["TsReceiver"]


class TsReceiver:
    """One sender's MPEG-TS over UDP, raw or RTP (payload type 33), any datagram size.

    ``feed(datagram, arrival)`` returns the events the datagram completed, in stream order:
    ``ProgramChanged`` when the chosen program's PMT is first read or changes, and ``AccessUnit``
    for each complete access unit (its ``packet.arrival`` is the ``arrival`` of the datagram that
    completed it). Hostile input never raises: unusable datagrams, garbage bytes, lost or damaged
    packets are counted (``status()``) and the next access unit after a loss is marked
    ``discontinuity``. Memory is bounded: at most one partial TS packet (or a 376-byte sync
    search window), one PES per followed stream (``MAX_UNIT_BYTES``) and one PAT/PMT section.
    """

    def __init__(self) -> None:
        self.unwrapper = DatagramUnwrapper()
        self.sync = TsSync()
        self.sequence = SequenceTracker()
        self.demux = TsDemuxer()
        self.datagrams = 0
        self.bytes = 0
        self.bad_datagrams = 0
        self.unaligned_datagrams = 0  # raw datagrams that are not whole TS packets (fine: shows the split case)
        self.last_error: str | None = None
        self.ssrc: int | None = None

    @property
    def rtp(self) -> bool | None:
        """``True`` for RTP/MP2T, ``False`` for raw TS, ``None`` before the first datagram."""
        return self.unwrapper.rtp

    def feed(self, datagram: bytes, arrival: float) -> list[Event]:
        self.datagrams += 1
        self.bytes += len(datagram)
        try:
            payload, rtp = self.unwrapper.unwrap(datagram)
        except MpegTsError as exc:
            self.bad_datagrams += 1
            self.last_error = str(exc)
            return []
        if rtp is None and (len(payload) % 188 or payload[0] != 0x47):
            self.unaligned_datagrams += 1
        if rtp is not None:
            self.ssrc = rtp.ssrc
            if self.sequence.update(rtp.sequence):
                self.sync.drop_partial()
        events: list[Event] = []
        self.demux.packets(self.sync.feed(payload), arrival, events)
        return events

    def status(self) -> dict[str, Any]:
        program = self.demux.program
        return {
            "transport": None if self.rtp is None else ("rtp" if self.rtp else "udp"),
            "datagrams": self.datagrams,
            "bytes": self.bytes,
            "bad_datagrams": self.bad_datagrams,
            "unaligned_datagrams": self.unaligned_datagrams,
            "rtp_lost": self.sequence.lost,
            "rtp_late": self.sequence.late,
            "synced": self.sync.synced,
            "ts_packets": self.sync.packets,
            "sync_losses": self.sync.sync_losses,
            "bytes_skipped": self.sync.bytes_skipped,
            "program": None if program is None else program.number,
            "pmt_pid": None if program is None else program.pmt_pid,
            **attrs.asdict(self.demux.counters),
            "last_error": self.last_error,
        }
