"""Playout at the sender's announced latency (sans-I/O): the first packet anchors the timeline until a
sync packet and a clock offset map RTP time onto the sender's clock; latencies and holds are bounded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from receiver_plugins.airplay.playout import DEFAULT_LATENCY_FRAMES, MAX_LATENCY, PlayoutClock
from receiver_plugins.airplay.rtp import SyncPacket, ntp_from_unix

RATE = 44100


def test_before_any_sync_the_first_packet_plays_after_the_sdp_latency() -> None:
    clock = PlayoutClock(RATE, latency_frames=22050)
    assert clock.due(1000, arrival=100.0) == pytest.approx(100.5)
    assert clock.due(1000 + 352, arrival=100.001) == pytest.approx(100.5 + 352 / RATE)
    assert clock.clock == "arrival" and clock.latency_from == "sdp"
    assert PlayoutClock(RATE).latency == DEFAULT_LATENCY_FRAMES / RATE


def test_a_sync_packet_sets_the_latency_and_with_a_clock_offset_the_sender_clock() -> None:
    clock = PlayoutClock(RATE)
    latency = 66150  # pyatv: 22050 + one second
    unix_minus_mono = 1_700_000_000.0
    sender_now = unix_minus_mono + 50.0 + 0.010  # the sender's clock runs 10 ms ahead of ours
    sync = SyncPacket(rtp_now_minus_latency=5000, ntp=ntp_from_unix(sender_now), rtp_now=5000 + latency, first=True)
    clock.on_sync(sync, clock_offset=None, unix_minus_monotonic=unix_minus_mono)
    assert clock.latency == pytest.approx(1.5) and clock.clock == "arrival"
    clock.on_sync(sync, clock_offset=0.010, unix_minus_monotonic=unix_minus_mono)
    assert clock.clock == "sender"
    # frame 5000 plays at our monotonic 50.0; frame 5000 + latency 1.5 s later
    assert clock.due(5000, arrival=48.6) == pytest.approx(50.0, abs=1e-6)
    assert clock.due(5000 + latency, arrival=50.0) == pytest.approx(51.5, abs=1e-6)
    clock.reset()
    assert clock.clock == "arrival" and clock.due(9000, arrival=60.0) == pytest.approx(61.5)


def test_rtp_time_wraps() -> None:
    clock = PlayoutClock(RATE, latency_frames=RATE)
    assert clock.due(2**32 - 352, arrival=10.0) == pytest.approx(11.0)
    assert clock.due(0, arrival=10.0) == pytest.approx(11.0 + 352 / RATE)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1),
       st.floats(-1e6, 1e6), st.integers(0, 2**32 - 1), st.floats(0, 1e6))
def test_a_hostile_sender_cannot_make_the_box_hold_audio_long(minus: int, now: int, ntp: int, offset: float,
                                                              timestamp: int, arrival: float) -> None:
    clock = PlayoutClock(RATE, latency_frames=now)
    clock.on_sync(SyncPacket(minus, ntp, now, False), offset, 1.7e9)
    assert clock.latency <= MAX_LATENCY
    assert clock.due(timestamp, arrival) <= arrival + MAX_LATENCY
