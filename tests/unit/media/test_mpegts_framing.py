"""TsSync, the RTP/raw decision and RTP parsing (receiver_core.media.mpegts.framing)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver_core.media.mpegts import (
    TS_PACKET_SIZE,
    DatagramUnwrapper,
    MpegTsError,
    SequenceTracker,
    TsSync,
    parse_rtp,
)
from receiver_core.media.mpegts.psi import crc32_mpeg

from .conftest import chunks
from .emulated_ts import crc32_mpeg2


def packets_of(ts: bytes) -> list[bytes]:
    return chunks(ts, TS_PACKET_SIZE)


def collect(sync: TsSync, datagrams: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for datagram in datagrams:
        out += sync.feed(datagram)
    return out


@pytest.mark.parametrize("size", [1, 7, 100, 187, 188, 189, 1316, 1328, 1472, 1500, 65507])
def test_any_datagram_size_gives_back_every_packet(h264_ts: bytes, size: int) -> None:
    sync = TsSync()
    assert collect(sync, chunks(h264_ts, size)) == packets_of(h264_ts)
    assert (sync.sync_losses, sync.bytes_skipped, sync.pending) == (0, 0, 0)


def test_garbage_before_the_stream_is_skipped_and_counted(h264_ts: bytes) -> None:
    rng = np.random.default_rng(3)
    garbage = bytes(b if b != 0x47 else 0x46 for b in rng.bytes(5000)) + b"\x47" * 3  # a few lone sync bytes too
    sync = TsSync()
    assert collect(sync, chunks(garbage + h264_ts, 1472)) == packets_of(h264_ts)
    assert sync.bytes_skipped == len(garbage) and sync.sync_losses == 0


def test_sync_is_trusted_only_after_three_sync_bytes_188_apart() -> None:
    fake = b"\x47" + bytes(187) + b"\x47" + bytes(187) + b"\x00"  # two sync bytes, then none
    real = (b"\x47" + bytes(187)) * 3
    sync = TsSync()
    assert sync.feed(fake) == [] and not sync.synced
    assert sync.feed(real) == packets_of(real)
    assert sync.bytes_skipped == len(fake)


def test_a_lost_chunk_loses_sync_once_and_resyncs(h264_ts: bytes) -> None:
    datagrams = chunks(h264_ts, 1472)
    del datagrams[10]
    sync = TsSync()
    out = collect(sync, datagrams)
    assert sync.sync_losses == 1 and out.count(b"") == 1
    good = [p for p in out if p]
    expected = packets_of(h264_ts)
    bogus = [p for p in good if p not in expected]
    assert len(bogus) <= 1  # at most the packet holding the junction
    assert len(good) >= len(expected) - 1472 // TS_PACKET_SIZE - 4


def test_memory_stays_bounded_on_endless_garbage() -> None:
    rng = np.random.default_rng(5)
    sync = TsSync()
    for _ in range(200):
        assert all(not p for p in sync.feed(rng.bytes(5000)))
        assert sync.pending <= 2 * TS_PACKET_SIZE
    assert sync.bytes_skipped + sync.pending == 200 * 5000


def test_crc_matches_the_standard_check_value() -> None:
    assert crc32_mpeg(b"123456789") == crc32_mpeg2(b"123456789") == 0x0376E6E7


# ------------------------------------------------------------------------------------------ RTP or raw


def rtp(payload: bytes, sequence: int = 1, payload_type: int = 33, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | payload_type, sequence, 0, 0x1234) + payload


def test_rtp_is_recognised_and_unwrapped(h264_ts: bytes) -> None:
    unwrapper = DatagramUnwrapper()
    payload, header = unwrapper.unwrap(rtp(h264_ts[:1316], 7))
    assert unwrapper.rtp is True and payload == h264_ts[:1316] and header is not None and header.sequence == 7


def test_raw_datagrams_that_look_like_rtp_stay_raw(h264_ts: bytes) -> None:
    unwrapper = DatagramUnwrapper()
    unwrapper.unwrap(h264_ts[:1472])
    lookalike = bytes([0x80, 33]) + bytes(10) + h264_ts[:1316]  # strict RTP by chance, once
    assert unwrapper.unwrap(lookalike) == (lookalike, None)
    assert unwrapper.rtp is False and unwrapper.mode_switches == 0


def test_a_sender_that_switches_to_rtp_is_followed(h264_ts: bytes) -> None:
    unwrapper = DatagramUnwrapper()
    unwrapper.unwrap(h264_ts[:1472])
    for sequence in range(3):
        unwrapper.unwrap(rtp(h264_ts[:1316], sequence))
    assert unwrapper.rtp is True and unwrapper.mode_switches == 1


def test_rtp_with_another_payload_type_is_refused(h264_ts: bytes) -> None:
    unwrapper = DatagramUnwrapper()
    unwrapper.unwrap(rtp(h264_ts[:1316]))
    with pytest.raises(MpegTsError, match="payload type 96"):
        unwrapper.unwrap(rtp(h264_ts[:1316], payload_type=96))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=600))
def test_parse_rtp_raises_only_its_error(first: int, second: int, rest: bytes) -> None:
    data = bytes([first, second]) + rest
    try:
        header, payload = parse_rtp(data)
    except MpegTsError:
        return
    assert len(payload) <= len(data) - 12
    assert header.payload_type == second & 0x7F


ts_packets = st.lists(st.binary(min_size=TS_PACKET_SIZE - 1, max_size=TS_PACKET_SIZE - 1), min_size=1, max_size=7) \
    .map(lambda packets: b"".join(b"\x47" + p for p in packets))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payload_type=st.integers(0, 127), marker=st.booleans(), sequence=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF), ssrc=st.integers(0, 0xFFFFFFFF),
    csrcs=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15),
    extension=st.one_of(st.none(), st.tuples(st.integers(0, 0xFFFF), st.lists(st.binary(min_size=4, max_size=4),
                                                                                max_size=8))),
    padding=st.integers(0, 255), payload=st.one_of(ts_packets, st.binary(max_size=300)),
)
def test_valid_rtp_round_trips(payload_type: int, marker: bool, sequence: int, timestamp: int, ssrc: int,
                               csrcs: list[int], extension: tuple[int, list[bytes]] | None, padding: int,
                               payload: bytes) -> None:
    first = 0x80 | (0x20 if padding else 0) | (0x10 if extension is not None else 0) | len(csrcs)
    data = struct.pack("!BBHII", first, (0x80 if marker else 0) | payload_type, sequence, timestamp, ssrc)
    data += b"".join(struct.pack("!I", c) for c in csrcs)
    if extension is not None:
        profile, words = extension
        data += struct.pack("!HH", profile, len(words)) + b"".join(words)
    data += payload
    if padding:
        data += bytes(padding - 1) + bytes([padding])
    header, got = parse_rtp(data)
    assert (header.payload_type, header.marker, header.sequence, header.timestamp, header.ssrc) == \
        (payload_type, marker, sequence, timestamp, ssrc)
    assert got == payload
    unwrapper = DatagramUnwrapper()
    is_ts = len(payload) > 0 and len(payload) % TS_PACKET_SIZE == 0 and payload[0] == 0x47
    if payload_type == 33 and is_ts:
        assert unwrapper.unwrap(data) == (payload, header)
    else:  # not RTP/MP2T as RFC 2250 sends it: read as raw TS bytes
        assert unwrapper.unwrap(data) == (data, None)


@given(st.integers(0, 0xFFFF), st.lists(st.integers(0, 200), max_size=60))
def test_sequence_tracker_counts_gaps_across_wrap_around(start: int, gaps: list[int]) -> None:
    tracker = SequenceTracker()
    tracker.update(start)
    sequence = start
    for gap in gaps:
        sequence = (sequence + 1 + gap) & 0xFFFF
        assert tracker.update(sequence) == gap
        assert tracker.update((sequence - 3) & 0xFFFF) == 0  # a late one is not a loss
    assert tracker.lost == sum(gaps)
    assert tracker.late == len(gaps)
