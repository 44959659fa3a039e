"""The aiortc receive-path patch: synthetic RTP sequences into the jitter buffer (marker completion,
loss + retransmission, deadline skip + PLI, sequence wrap) and the install/mismatch checks."""

from __future__ import annotations

import aiortc.rtcrtpreceiver
import pytest
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket
from receiver_plugins.montage_native import receive_path
from receiver_plugins.montage_native.aiortc_patches import PatchMismatch
from receiver_plugins.montage_native.receive_path import MarkerJitterBuffer


def rtp(seq: int, ts: int, marker: bool = False) -> RtpPacket:
    packet = RtpPacket(payload_type=96, marker=int(marker), sequence_number=seq % 65536, timestamp=ts, ssrc=1,
                       payload=b"")
    packet._data = f"[{seq % 65536}]".encode()
    return packet


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_marker_completes_the_frame_on_its_last_packet_where_stock_waits_for_the_next() -> None:
    stock, patched = JitterBuffer(capacity=128, is_video=True), MarkerJitterBuffer(128)
    frame = [rtp(10, 0), rtp(11, 0), rtp(12, 0, marker=True)]
    assert [stock.add(p)[1] for p in frame] == [None, None, None]  # the one-frame hold
    out = [patched.add(p)[1] for p in frame]
    assert out[:2] == [None, None] and out[2].data == b"[10][11][12]" and out[2].timestamp == 0
    assert patched.marker_frames == 1
    # the stock buffer only lets it out when frame 2 starts
    assert stock.add(rtp(13, 3000))[1].data == b"[10][11][12]"


def test_lost_marker_falls_back_to_timestamp_change() -> None:
    buffer = MarkerJitterBuffer(128)
    assert buffer.add(rtp(0, 0))[1] is None
    assert buffer.add(rtp(1, 0))[1] is None  # marker packet of frame 0 never carries the bit here
    frame = buffer.add(rtp(2, 3000))[1]
    assert frame.data == b"[0][1]"


def test_loss_then_retransmission_delivers_the_frame() -> None:
    buffer = MarkerJitterBuffer(128, clock=Clock())
    assert buffer.add(rtp(100, 0))[1] is None
    assert buffer.add(rtp(102, 0, marker=True))[1] is None  # 101 missing
    assert buffer.add(rtp(103, 3000, marker=True)) == (False, None)
    pli, frame = buffer.add(rtp(101, 0))  # the RTX
    assert not pli and frame.data == b"[100][101][102]"
    assert buffer.add(rtp(104, 6000, marker=True))[1].data == b"[103]"


def test_gap_past_its_deadline_skips_to_the_next_frame_and_asks_for_a_pli() -> None:
    clock = Clock()
    buffer = MarkerJitterBuffer(512, deadline=0.25, clock=clock)
    assert buffer.add(rtp(0, 0, marker=True))[1].data == b"[0]"
    assert buffer.add(rtp(1, 3000)) == (False, None)  # frame 1: packet 2 lost for good
    assert buffer.add(rtp(3, 3000, marker=True)) == (False, None)
    clock.now = 0.1
    assert buffer.add(rtp(4, 6000, marker=True)) == (False, None)  # blocked, within the deadline
    clock.now = 0.4
    pli, frame = buffer.add(rtp(5, 9000, marker=True))
    assert pli and frame.data == b"[4]" and buffer.skips == 1
    assert buffer.add(rtp(6, 12000, marker=True))[1].data == b"[5]"
    # stock aiortc would still be holding frame 1, asking for nothing
    stock = JitterBuffer(capacity=512, is_video=True)
    results = [stock.add(p) for p in (rtp(0, 0, True), rtp(1, 3000), rtp(3, 3000, True), rtp(4, 6000, True),
                                      rtp(5, 9000, True), rtp(6, 12000, True))]
    assert [r[1].data if r[1] else None for r in results] == [None, b"[0]", None, None, None, None]
    assert not any(r[0] for r in results)


def test_sequence_numbers_wrap() -> None:
    buffer = MarkerJitterBuffer(128)
    seqs = [65534, 65535, 0, 1]
    out = [buffer.add(rtp(s, 90 * (n // 2), marker=n % 2 == 1))[1] for n, s in enumerate(seqs)]
    assert out[1].data == b"[65534][65535]" and out[3].data == b"[0][1]"


def test_install_swaps_video_buffers_only_and_uninstall_restores() -> None:
    receive_path.install()
    try:
        assert receive_path.installed()
        make = aiortc.rtcrtpreceiver.JitterBuffer
        assert isinstance(make(capacity=512, is_video=True), MarkerJitterBuffer)
        audio = make(capacity=16, prefetch=4)
        assert type(audio) is JitterBuffer
    finally:
        receive_path.uninstall()
    assert not receive_path.installed()
    assert aiortc.rtcrtpreceiver.JitterBuffer is JitterBuffer


def test_install_refuses_a_changed_aiortc(monkeypatch: pytest.MonkeyPatch) -> None:
    class Moved:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

    monkeypatch.setattr(receive_path, "_STOCK_JITTER_BUFFER", Moved)
    with pytest.raises(PatchMismatch):
        receive_path.install()
    assert not receive_path.installed()


def test_padding_after_a_marked_frame_is_not_a_frame() -> None:
    buffer = MarkerJitterBuffer(128)
    assert buffer.add(rtp(0, 0, marker=True))[1].data == b"[0]"
    padding = rtp(1, 0)
    padding._data = b""  # Chrome's padding-only probe: same timestamp, no payload
    assert buffer.add(padding)[1] is None
    assert buffer.add(rtp(2, 3000, marker=True))[1].data == b"[2]"
