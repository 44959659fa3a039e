"""One RAOP audio stream: UDP data/control/timing sockets -> decrypt -> reorder -> held until the
sender's presentation time (``playout``) -> ``QueueSource``.

Created by SETUP, fed by the sender's datagrams, ended by TEARDOWN, the end of the control
connection, or the core (kick/block): after ``close()`` every datagram is ignored.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from fractions import Fraction
from typing import Any

from receiver_core import MediaCaps, MediaPacket, QueueSource
from receiver_core.errors import RemoteProtocolError

from .alac import with_end_tag
from .hap import AudioCipher
from .jitter import JitterBuffer
from .playout import MAX_LATENCY, PlayoutClock
from .raop_crypto import PacketDecryptor
from .rtp import (
    AudioPacket,
    SyncPacket,
    build_retransmit_request,
    build_timing_request,
    ntp_from_unix,
    parse_audio,
    parse_control,
    parse_timing,
)
from .sdp import AudioAnnouncement
from .udp import StreamSocket, open_socket

__all__ = ["AudioStream", "caps_for"]

log = logging.getLogger(__name__)

TICK = 0.02  # how often held packets and retransmit deadlines are looked at
TIMING_INTERVAL = 3.0
QUEUE_PACKETS = 2048  # ~16 s of 352-frame packets: the decoder never falls that far behind


def caps_for(announcement: AudioAnnouncement) -> MediaCaps:
    common = {"sample_rate": announcement.sample_rate, "channels": announcement.channels}
    if announcement.codec == "alac":
        assert announcement.alac is not None
        return MediaCaps.audio("alac", extradata=announcement.alac.magic_cookie(), **common)
    if announcement.codec == "pcm_s16be":
        return MediaCaps.audio("pcm_s16be", **common)
    profile = "eld" if announcement.codec == "aac-eld" else "lc"
    return MediaCaps.audio("aac", profile=profile, extradata=announcement.aac_config, **common)


class AudioStream:
    def __init__(self, announcement: AudioAnnouncement, aes_key: bytes | None, peer_ip: str,
                 audio_cipher: AudioCipher | None = None) -> None:
        self.announcement = announcement
        self.audio_cipher = audio_cipher
        self.peer_ip = peer_ip
        self.source = QueueSource(caps_for(announcement), maxsize=QUEUE_PACKETS)
        self.decryptor = PacketDecryptor(aes_key, announcement.aes_iv) if aes_key and announcement.aes_iv else None
        self.jitter = JitterBuffer()
        self.playout = PlayoutClock(announcement.sample_rate, announcement.min_latency)
        self._scheduled: collections.deque[tuple[float, MediaPacket]] = collections.deque()
        self.played_early = 0  # pushed before their time because too many were held (bounded)
        self.time_base = Fraction(1, announcement.sample_rate)
        self.data: StreamSocket | None = None
        self.control: StreamSocket | None = None
        self.timing: StreamSocket | None = None
        self.sender_control_port = 0
        self.sender_timing_port = 0
        self.closed = False
        self.bad_packets = 0
        self.packets = 0
        self.syncs = 0
        self.last_sync: SyncPacket | None = None
        self.clock_offset: float | None = None  # sender NTP clock minus ours, seconds
        self._counter = 0
        self._timestamp_base: int | None = None
        self._last_timestamp = 0
        self._ticker: asyncio.Task[None] | None = None

    async def open(self, local_ip: str, sender_control_port: int, sender_timing_port: int) -> None:
        self.sender_control_port = sender_control_port
        self.sender_timing_port = sender_timing_port
        self.data = await open_socket(local_ip, self.peer_ip, self._on_data)
        self.control = await open_socket(local_ip, self.peer_ip, self._on_control)
        self.timing = await open_socket(local_ip, self.peer_ip, self._on_timing)
        self._ticker = asyncio.ensure_future(self._tick())

    @property
    def ports(self) -> tuple[int, int, int]:
        assert self.data and self.control and self.timing
        return self.data.port, self.control.port, self.timing.port

    # ---------------------------------------------------------------------------------- input

    def _on_data(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            packet = parse_audio(data)
        except RemoteProtocolError:
            self.bad_packets += 1
            return
        self._accept(packet, retransmitted=False)

    def _on_control(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            packet = parse_control(data)
        except RemoteProtocolError:
            self.bad_packets += 1
            return
        if isinstance(packet, SyncPacket):
            self.syncs += 1
            self.last_sync = packet
            self.playout.on_sync(packet, self.clock_offset, time.time() - time.monotonic())
        else:
            self._accept(packet, retransmitted=True)

    def _on_timing(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            reply = parse_timing(data)
        except RemoteProtocolError:
            self.bad_packets += 1
            return
        now = ntp_from_unix(time.time())
        if reply.reference and reply.received:  # ((t1 - t0) + (t2 - t3)) / 2 in NTP units
            offset = ((reply.received - reply.reference) + (reply.sent - now)) / 2
            self.clock_offset = offset / (1 << 32)

    def _accept(self, packet: AudioPacket, *, retransmitted: bool) -> None:
        if self.closed:
            return
        self.packets += 1
        payload = packet.payload
        if self.audio_cipher is not None:
            try:
                payload = self.audio_cipher.decrypt(packet.header, payload)
            except RemoteProtocolError:
                self.bad_packets += 1
                return
        elif self.decryptor is not None:
            payload = self.decryptor.decrypt(payload)
        alac = self.announcement.alac
        if alac is not None:
            payload = with_end_tag(payload, alac.frames_per_packet, alac.bit_depth)
        self.jitter.push(packet.sequence, packet.timestamp, payload, time.monotonic(), retransmitted=retransmitted)
        self._release(time.monotonic())

    def _release(self, now: float) -> None:
        for item in self.jitter.pop_ready(now):
            packet = MediaPacket(item.payload, pts=self._extend_timestamp(item.timestamp), time_base=self.time_base,
                                 keyframe=True, arrival=now, discontinuity=item.after_loss)
            self._scheduled.append((self.playout.due(item.timestamp, now), packet))
        self._play_due(now)
        if self.control is not None and self.sender_control_port:
            for first, count in self.jitter.due_requests(now):
                self._counter += 1
                self.control.send(build_retransmit_request(self._counter, first, count),
                                  (self.peer_ip, self.sender_control_port))

    def _extend_timestamp(self, timestamp: int) -> int:
        """RTP time (32-bit, wraps after 27 h at 44.1 kHz) as a growing pts from the first packet."""
        if self._timestamp_base is None:
            self._timestamp_base = timestamp
            self._last_timestamp = 0
        delta = (timestamp - self._timestamp_base - self._last_timestamp) % (1 << 32)
        if delta >= 1 << 31:
            delta -= 1 << 32
        self._last_timestamp += delta
        return self._last_timestamp

    def _play_due(self, now: float) -> None:
        """Hand the core every packet whose time has come (the audio backend writes it at once)."""
        while self._scheduled and not self.closed:
            due, packet = self._scheduled[0]
            if due > now and len(self._scheduled) <= QUEUE_PACKETS:
                break
            if due > now:
                self.played_early += 1
            self._scheduled.popleft()
            packet.arrival = now  # when it entered the core: the core's queues bound from there
            self.source.push(packet)

    async def drain(self, timeout: float = MAX_LATENCY + 0.5) -> None:
        """Until every packet received so far has been played (TEARDOWN: the sender's tail is owed)."""
        deadline = time.monotonic() + timeout
        while (self._scheduled or self.jitter.depth) and not self.closed and time.monotonic() < deadline:
            await asyncio.sleep(TICK / 2)

    async def _tick(self) -> None:
        next_timing = 0.0
        while not self.closed:
            now = time.monotonic()
            if self.jitter.depth:
                self._release(now)
            self._play_due(now)
            if self.sender_timing_port and self.timing is not None and now >= next_timing:
                self._counter += 1
                self.timing.send(build_timing_request(self._counter, ntp_from_unix(time.time())),
                                 (self.peer_ip, self.sender_timing_port))
                next_timing = now + TIMING_INTERVAL
            wait = TICK
            if self._scheduled:
                wait = min(wait, max(0.001, self._scheduled[0][0] - time.monotonic()))
            await asyncio.sleep(wait)

    # ---------------------------------------------------------------------------------- control

    def flush(self, next_sequence: int | None) -> None:
        self.jitter.reset(next_sequence)
        self._scheduled.clear()
        self.playout.reset()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._scheduled.clear()
        for sock in (self.data, self.control, self.timing):
            if sock is not None:
                sock.close()
        if self._ticker is not None:
            self._ticker.cancel()
        self.source.end()

    def status(self) -> dict[str, Any]:
        return {
            "codec": self.source.caps.codec + ("/eld" if self.announcement.codec == "aac-eld" else ""),
            "encryption": "chacha20-poly1305" if self.audio_cipher else ("aes-cbc" if self.decryptor else "none"),
            "packets": self.packets,
            "lost": self.jitter.lost,
            "recovered": self.jitter.recovered,
            "retransmit_requests": self.jitter.requested,
            "late": self.jitter.late,
            "duplicates": self.jitter.duplicates,
            "bad_packets": self.bad_packets,
            "buffer_depth": self.jitter.depth,
            "queue_dropped": self.source.dropped,
            "clock_offset_ms": None if self.clock_offset is None else round(self.clock_offset * 1000, 3),
            "playout": {"latency_ms": round(self.playout.latency * 1000, 1), "latency_from": self.playout.latency_from,
                        "clock": self.playout.clock, "held": len(self._scheduled), "played_early": self.played_early},
        }
