"""Deterministic packet loss at the box's receiver with a real Chromium sender: lost packets come back
by NACK/RTX, packets lost for good (media and every retransmission) are skipped after the deadline
with a PLI, and frames keep flowing (notes §8.9: tc netem is not available in this kernel)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiortc.rtcrtpreceiver
import pytest
from receiver_plugins.montage_native.receive_path import MarkerJitterBuffer

from .chromium import chromium, join
from .conftest import PIN
from .test_chromium import wait_for

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(150)]

SENDER_STATS = """async () => {
  const out = {nack: 0, pli: 0, rtx: 0};
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'outbound-rtp' && s.kind === 'video') {
      out.nack += s.nackCount || 0; out.pli += s.pliCount || 0; out.rtx += s.retransmittedPacketsSent || 0;
    }
  });
  return out;
}"""


class Loss:
    """Drops every ``every``-th video media packet once (NACK recovers it) and every ``forever``-th
    one together with all its retransmissions (only the deadline gets past it)."""

    def __init__(self, every: int = 100, forever: int = 400) -> None:
        self.every, self.forever = every, forever
        self.media = 0
        self.dropped = 0
        self.dropped_rtx = 0
        self.lost_for_good: set[int] = set()

    def drop(self, receiver: Any, packet: Any) -> bool:
        if receiver._RTCRtpReceiver__kind != "video":
            return False
        codec = receiver._RTCRtpReceiver__codecs.get(packet.payload_type)
        if codec is None:
            return False
        if codec.name.lower() == "rtx":
            original = int.from_bytes(packet.payload[:2], "big") if len(packet.payload) >= 2 else -1
            if original in self.lost_for_good:
                self.dropped_rtx += 1
                return True
            return False
        if not packet.payload:
            return False  # padding
        self.media += 1
        if self.media % self.forever == 0:
            self.lost_for_good.add(packet.sequence_number)
            self.dropped += 1
            return True
        if self.media % self.every == 0:
            self.dropped += 1
            return True
        return False


async def test_loss_recovered_by_nack_and_deadline(native_box: Callable[..., Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    async with native_box() as box, chromium() as browser:
        # the engine patches aiortc with the first peer: load it now, so the loss wraps the patched handler
        await box.web.engine.ready()
        handler = aiortc.rtcrtpreceiver.RTCRtpReceiver._handle_rtp_packet  # the box's patched one
        assert getattr(handler, "montage_patch", False)
        loss = Loss()

        async def lossy(self: Any, packet: Any, arrival_time_ms: int) -> None:
            if not loss.drop(self, packet):
                await handler(self, packet, arrival_time_ms)

        monkeypatch.setattr(aiortc.rtcrtpreceiver.RTCRtpReceiver, "_handle_rtp_packet", lossy)
        page = await browser.new_page()
        await join(page, box.url(), box.meeting_id, PIN, "Lossy")
        stats = (await wait_for(lambda: [s for s in box.video_stats() if s.decoded > 0], 20, "a decoded frame"))[0]
        peer = next(iter(box.web.clients)).peer
        buffer = next(t.receiver._RTCRtpReceiver__jitter_buffer for t in peer.pc.getTransceivers()
                      if t.kind == "video")
        assert isinstance(buffer, MarkerJitterBuffer)
        await wait_for(lambda: buffer.skips >= 1, 30, "a packet lost for good to be skipped")
        start_count, start = stats.decoded, time.monotonic()
        await asyncio.sleep(4.0)
        fps = (stats.decoded - start_count) / (time.monotonic() - start)
        sender = await page.evaluate(SENDER_STATS)
        print(f"loss: dropped {loss.dropped} of {loss.media} media packets, {loss.dropped_rtx} retransmissions; "
              f"skips {buffer.skips}; sender {sender}; {fps:.1f} fps")
        assert loss.dropped >= 3 and loss.dropped_rtx >= 1
        assert sender["nack"] >= 1 and sender["rtx"] >= 1  # the box asked, Chromium resent
        # stock aiortc NACKs once per new gap; the timed retries ask again while a packet stays missing
        assert sender["nack"] > loss.dropped
        assert sender["pli"] >= 1  # the skip asked for a keyframe
        assert fps >= 10, f"{fps:.1f} fps"
