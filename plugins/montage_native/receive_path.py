"""aiortc 1.16 video receive-path fixes: marker-bit frame completion, a per-gap deadline, timed NACKs.

Part of the patch layer (``aiortc_patches``): pinned to aiortc 1.16.0, installed by
``install()`` (``engine.Engine`` calls it with the first peer), which checks every private name it
relies on and raises ``PatchMismatch`` when one moved.

* **Marker bit**: stock ``JitterBuffer`` emits frame N only once a packet of frame N+1 arrived (one
  frame interval of added latency: 33 ms at 30 fps, a full second on a 1 fps static slide).
  Chrome sets the RTP marker on the last packet of each VP8/H.264 frame, so a frame whose packets
  are all present up to a marked packet is complete now.
* **Deadline**: stock aiortc waits for a missing packet until the 512-slot buffer overflows
  (seconds at screen-share rates). Here a head-of-line gap older than ``deadline`` (while later
  packets exist) is skipped: the buffer jumps to the next frame start and asks for a PLI.
* **Timed NACK**: stock aiortc NACKs only when a new gap appears; if a packet and its
  retransmission are both lost nobody asks again. The receiver wrapper re-sends the NACK list
  every ``nack_interval`` while packets are missing (on packet arrival, no extra timer).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiortc.jitterbuffer
import aiortc.rtcrtpreceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.utils import uint16_add, uint16_gt

from .aiortc_patches import PatchMismatch, check_versions

__all__ = ["MarkerJitterBuffer", "install", "uninstall", "installed"]

_STOCK_JITTER_BUFFER = aiortc.jitterbuffer.JitterBuffer
_STOCK_HANDLE_RTP = aiortc.rtcrtpreceiver.RTCRtpReceiver._handle_rtp_packet


class MarkerJitterBuffer(JitterBuffer):
    """Video jitter buffer completing frames on the marker bit, with a per-gap deadline."""

    def __init__(self, capacity: int, prefetch: int = 0, is_video: bool = True, *, deadline: float = 0.25,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(capacity, prefetch=prefetch, is_video=is_video)
        self.deadline = deadline
        self.clock = clock
        self.gap_since: float | None = None
        self.skips = 0
        self.marker_frames = 0
        self._max_seq: int | None = None
        self._scan_end = 0  # where the last frame scan met a missing packet (offset from origin)

    def add(self, packet: Any) -> tuple[bool, JitterFrame | None]:
        if self._max_seq is None or uint16_gt(packet.sequence_number, self._max_seq):
            self._max_seq = packet.sequence_number
        pli, frame = super().add(packet)
        if frame is not None:
            self.gap_since = None
            return pli, frame
        if self._head_blocked():
            now = self.clock()
            if self.gap_since is None:
                self.gap_since = now
            elif now - self.gap_since > self.deadline and self._skip_gap():
                self.gap_since = None
                self.skips += 1
                return True, self._remove_frame(packet.sequence_number)
        else:
            self.gap_since = None
        return pli, frame

    def _head_blocked(self) -> bool:
        """A packet is missing before later packets that are present (from the last frame scan)."""
        if self._origin is None or self._max_seq is None:
            return False
        ahead = uint16_add(self._max_seq, -self._origin)
        return ahead < self._capacity and self._scan_end < ahead

    def _skip_gap(self) -> bool:
        """Drop everything up to the first frame start after the first gap; False if none is known yet."""
        assert self._origin is not None
        gap = None
        previous = None
        for count in range(self._capacity):
            packet = self._packets[(self._origin + count) % self._capacity]
            if packet is None:
                if gap is None:
                    gap = count
                previous = None
                continue
            if gap is not None and previous is not None and (previous.marker or previous.timestamp != packet.timestamp):
                self.remove(count)
                return True
            previous = packet
        return False

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        while True:
            end = self._complete_frame_end()
            if end is None:
                return None
            origin = self._origin
            assert origin is not None
            packets: list[Any] = [self._packets[(origin + i) % self._capacity] for i in range(end)]
            self.remove(end)
            data = b"".join(p._data for p in packets)
            if data:
                return JitterFrame(data=data, timestamp=packets[0].timestamp)
            # padding-only packets (Chrome's bandwidth probes after a frame's marker): not a frame

    def _complete_frame_end(self) -> int | None:
        """Number of packets from the origin that form a complete frame, or ``None``."""
        timestamp = None
        origin = self._origin
        assert origin is not None
        for count in range(self._capacity):
            packet = self._packets[(origin + count) % self._capacity]
            if packet is None:
                self._scan_end = count
                return None
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:  # marker lost: the timestamp change completes the frame
                return count
            if packet.marker:
                self.marker_frames += 1
                return count + 1
        self._scan_end = self._capacity
        return None


def _jitter_buffer_factory(deadline: float) -> Callable[..., JitterBuffer]:
    def make(capacity: int, prefetch: int = 0, is_video: bool = False) -> JitterBuffer:
        if is_video and prefetch == 0:
            return MarkerJitterBuffer(capacity, prefetch, is_video, deadline=deadline)
        return _STOCK_JITTER_BUFFER(capacity, prefetch=prefetch, is_video=is_video)
    return make


def _timed_nack_handler(interval: float) -> Callable[..., Any]:
    async def _handle_rtp_packet(self: Any, packet: Any, arrival_time_ms: int) -> None:
        await _STOCK_HANDLE_RTP(self, packet, arrival_time_ms)
        nack = getattr(self, "_RTCRtpReceiver__nack_generator", None)
        buffer = getattr(self, "_RTCRtpReceiver__jitter_buffer", None)
        if nack is None or not nack.missing:
            return
        origin = getattr(buffer, "_origin", None)
        if origin is not None:  # packets the jitter buffer already gave up on are not asked for again
            for seq in [s for s in nack.missing if uint16_gt(origin, s)]:
                nack.missing.discard(seq)
        now = time.monotonic()
        last = getattr(self, "_montage_last_nack", 0.0)
        if nack.missing and now - last >= interval:
            self._montage_last_nack = now
            await self._send_rtcp_nack(packet.ssrc, sorted(nack.missing))
    _handle_rtp_packet.montage_patch = True  # type: ignore[attr-defined]
    return _handle_rtp_packet


def _check_private_names() -> None:
    check_versions()
    source = aiortc.rtcrtpreceiver.RTCRtpReceiver.__init__.__code__.co_names
    for name in ("JitterBuffer", "NackGenerator"):
        if name not in source:
            raise PatchMismatch(f"RTCRtpReceiver.__init__ no longer uses {name}")
    buffer = _STOCK_JITTER_BUFFER(capacity=4, is_video=True)
    for attr in ("_origin", "_packets", "_capacity", "_remove_frame", "remove"):
        if not hasattr(buffer, attr):
            raise PatchMismatch(f"aiortc JitterBuffer lost {attr}")
    for attr in ("_send_rtcp_nack", "_send_rtcp_pli", "_handle_rtp_packet"):
        if not hasattr(aiortc.rtcrtpreceiver.RTCRtpReceiver, attr):
            raise PatchMismatch(f"aiortc RTCRtpReceiver lost {attr}")
    if "_RTCRtpReceiver__nack_generator" not in _STOCK_HANDLE_RTP.__code__.co_names:
        raise PatchMismatch("RTCRtpReceiver._handle_rtp_packet no longer uses its NACK generator")


def install(deadline: float = 0.25, nack_interval: float = 0.1) -> None:
    """Apply the receive-path fixes to every peer connection created afterwards."""
    _check_private_names()
    setattr(aiortc.rtcrtpreceiver, "JitterBuffer", _jitter_buffer_factory(deadline))  # noqa: B010
    setattr(aiortc.rtcrtpreceiver.RTCRtpReceiver, "_handle_rtp_packet", _timed_nack_handler(nack_interval))  # noqa: B010


def uninstall() -> None:
    setattr(aiortc.rtcrtpreceiver, "JitterBuffer", _STOCK_JITTER_BUFFER)  # noqa: B010
    setattr(aiortc.rtcrtpreceiver.RTCRtpReceiver, "_handle_rtp_packet", _STOCK_HANDLE_RTP)  # noqa: B010


def installed() -> bool:
    return getattr(aiortc.rtcrtpreceiver.RTCRtpReceiver._handle_rtp_packet, "montage_patch", False)
