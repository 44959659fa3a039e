"""When each audio packet is played: at the latency the sender announces, on the sender's clock. Sans-I/O
(every time is passed in; ``monotonic`` seconds unless named otherwise).

A RAOP sync packet (control port, ``0xd4``) says "the frame with RTP time ``rtp_now_minus_latency`` is being
played at NTP time ``ntp`` of my clock", and the latency is ``rtp_now - rtp_now_minus_latency`` frames. With
the offset between the sender's clock and ours (the NTP-style timing exchange) that maps every RTP time to
our clock. Until both are known, the first packet anchors the mapping: it plays ``latency`` after it
arrived, the latency being the sync packet's, else the SDP ``min-latency``, else ``DEFAULT_LATENCY_FRAMES``.

Bounds: a sender cannot make the box hold audio for more than ``MAX_LATENCY`` seconds after it arrived,
and a latency above that is not taken.
"""

from __future__ import annotations

from .rtp import SyncPacket

__all__ = ["DEFAULT_LATENCY_FRAMES", "MAX_LATENCY", "PlayoutClock"]

DEFAULT_LATENCY_FRAMES = 11025  # 0.25 s at 44.1 kHz: what the box answers in Audio-Latency
MAX_LATENCY = 4.0
NTP_UNIX_OFFSET = 2208988800


def _signed32(value: int) -> int:
    value %= 1 << 32
    return value - (1 << 32) if value >= 1 << 31 else value


class PlayoutClock:
    def __init__(self, sample_rate: int, latency_frames: int | None = None) -> None:
        self.rate = sample_rate
        self.latency = DEFAULT_LATENCY_FRAMES / sample_rate
        self.latency_from = "default"
        if latency_frames is not None and 0 < latency_frames <= MAX_LATENCY * sample_rate:
            self.latency, self.latency_from = latency_frames / sample_rate, "sdp"
        self._first: tuple[int, float] | None = None  # (RTP time, arrival) of the first packet
        self._sender: tuple[int, float] | None = None  # (RTP time, when it plays) from a sync packet
        self.syncs_refused = 0

    @property
    def clock(self) -> str:
        """What the mapping rests on: the sender's clock (sync + timing) or the first packet's arrival."""
        return "sender" if self._sender is not None else "arrival"

    def on_sync(self, sync: SyncPacket, clock_offset: float | None, unix_minus_monotonic: float) -> None:
        """A sync packet; ``clock_offset`` = sender's clock minus ours in seconds (None while unknown)."""
        frames = (sync.rtp_now - sync.rtp_now_minus_latency) % (1 << 32)
        if not 0 < frames <= MAX_LATENCY * self.rate:
            self.syncs_refused += 1
            return
        self.latency, self.latency_from = frames / self.rate, "sync"
        if clock_offset is None:
            return
        sender_unix = sync.ntp / (1 << 32) - NTP_UNIX_OFFSET
        self._sender = (sync.rtp_now_minus_latency, sender_unix - clock_offset - unix_minus_monotonic)

    def reset(self) -> None:
        """FLUSH: the next packet starts a new timeline (until the next sync packet)."""
        self._first = None
        self._sender = None

    def due(self, timestamp: int, arrival: float) -> float:
        """When the packet with RTP time ``timestamp`` that arrived at ``arrival`` is to be played."""
        if self._sender is not None:
            rtp, at = self._sender
        else:
            if self._first is None:
                self._first = (timestamp, arrival)
            rtp, first_arrival = self._first
            at = first_arrival + self.latency
        return min(at + _signed32(timestamp - rtp) / self.rate, arrival + MAX_LATENCY)
