"""Hypothesis fuzz of the MPEG-TS byte-stream parser: random splits, garbage, truncation, random bytes.

Short runs for the unit tier; ``fuzz/mpegts_fuzz.py`` runs the same properties for longer."""

from __future__ import annotations

import functools
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver_core.media.mpegts import TS_PACKET_SIZE, AccessUnit, TsReceiver

from .conftest import GND_CAPTURE, make_ts

#: fuzz/mpegts_fuzz.py raises the count for its long run
FUZZ = settings(max_examples=int(os.environ.get("MPEGTS_FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def stream() -> bytes:
    return make_ts(frames=12, gop=6)


@functools.cache
def expected(which: str) -> list[tuple[str, bytes, int | None, bool]]:
    return run([data_of(which)])[0]


def data_of(which: str) -> bytes:
    return stream() if which == "ffmpeg" else GND_CAPTURE.read_bytes()[:40000]


def run(datagrams: list[bytes]) -> tuple[list[tuple[str, bytes, int | None, bool]], dict[str, Any], list[AccessUnit]]:
    rx = TsReceiver()
    found: list[AccessUnit] = []
    for index, datagram in enumerate(datagrams):
        for event in rx.feed(datagram, float(index)):
            if isinstance(event, AccessUnit):
                found.append(event)
    return [(u.kind, u.packet.data, u.packet.pts, u.packet.keyframe) for u in found], rx.status(), found


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:]) if b > a]


def check_accounting(status: dict[str, Any], fed: int, rtp: bool = False) -> None:
    if not rtp:
        held = fed - status["ts_packets"] * TS_PACKET_SIZE - status["bytes_skipped"]
        assert 0 <= held <= 2 * TS_PACKET_SIZE


sources = st.sampled_from(["ffmpeg", "gnd"])


@FUZZ
@given(sources, st.lists(st.integers(0, 200000), max_size=120))
def test_random_splits_change_nothing(which: str, cuts: list[int]) -> None:
    data = data_of(which)
    got, status, _units = run(split(data, cuts))
    assert got == expected(which)
    assert status["sync_losses"] == status["bytes_skipped"] == status["units_dropped"] == 0
    check_accounting(status, len(data))


@FUZZ
@given(sources, st.lists(st.integers(0, 200000), max_size=40), st.integers(0, 200000))
def test_a_truncated_stream_gives_a_prefix_of_the_units(which: str, cuts: list[int], end: int) -> None:
    data = data_of(which)[:end]
    got, status, _units = run(split(data, cuts))
    full = expected(which)
    video_got = [u for u in got if u[0] == "video"]
    assert video_got == [u for u in full if u[0] == "video"][:len(video_got)]
    check_accounting(status, len(data))


@FUZZ
@given(sources, st.lists(st.tuples(st.integers(0, 200000), st.binary(min_size=1, max_size=400)), max_size=8),
       st.lists(st.integers(0, 200000), max_size=30))
def test_garbage_between_datagrams_damages_little_and_is_counted(which: str, inserts: list[tuple[int, bytes]],
                                                                 cuts: list[int]) -> None:
    data = data_of(which)
    pieces = split(data, cuts + [at for at, _ in inserts])
    by_start, offset = {}, 0
    for piece in pieces:
        by_start[offset] = piece
        offset += len(piece)
    junk = dict(inserts)
    datagrams: list[bytes] = []
    for start, piece in by_start.items():
        if start in junk and start:
            datagrams.append(junk[start])
        datagrams.append(piece)
    got, status, units = run(datagrams)
    full = expected(which)
    bad = [u for u in got if u not in full]
    # each splice can damage at most the unit that its junction packet completed
    assert len(bad) <= status["sync_losses"] + len(inserts)
    check_accounting(status, sum(len(d) for d in datagrams))
    if not inserts or all(at == 0 or at >= len(data) for at, _ in inserts):
        assert got == full


@FUZZ
@given(st.lists(st.binary(max_size=3000), max_size=30))
def test_random_datagrams_never_raise(datagrams: list[bytes]) -> None:
    _got, status, _units = run(datagrams)
    assert status["datagrams"] == len(datagrams)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 255)), max_size=40), st.integers(1, 1500))
def test_flipped_bytes_never_raise_and_are_bounded(flips: list[tuple[int, int]], size: int) -> None:
    data = bytearray(data_of("ffmpeg"))
    for position, value in flips:
        data[(position * 997) % len(data)] = value
    got, status, units = run(split(bytes(data), list(range(size, len(data), size))))
    assert all(len(u.packet.data) <= 4 * 1024 * 1024 for u in units)
    check_accounting(status, len(data))
