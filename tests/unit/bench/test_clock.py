"""The benchmark's glass-to-glass clock (``bench/clock.py``): bar codes read back at both tile
scales, misreads refused, frames cut at video PES starts, observations matched to the right sender;
and the rule that a busy run gives no verdicts (``bench/report.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import clock  # noqa: E402
import report  # noqa: E402


def paint(plane: np.ndarray, index: int, x0: int, y0: int, block: int) -> None:
    bits = list(clock.MARKER) + [(index >> k) & 1 for k in range(clock.INDEX_BITS)] + \
        [(clock.check(index) >> k) & 1 for k in range(clock.CHECK_BITS)]
    for bit, value in enumerate(bits):
        plane[y0:y0 + block, x0 + bit * block:x0 + (bit + 1) * block] = 235 if value else 16


def canvas() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(40, 200, size=(1080, 1920), dtype=np.uint8)


def test_full_screen_code_is_read() -> None:
    plane = canvas()
    paint(plane, 437, 0, 0, clock.BLOCK)
    assert clock.read(plane) == {"full": 437}


def test_quad_codes_are_read_per_tile() -> None:
    plane = canvas()
    for index, (x0, y0) in zip((5, 130, 255, 599), ((0, 0), (960, 0), (0, 540), (960, 540))):
        paint(plane, index, x0, y0, clock.BLOCK // 2)
    assert clock.read(plane) == {"q0": 5, "q1": 130, "q2": 255, "q3": 599}


def test_a_flipped_bit_is_refused_not_misread() -> None:
    plane = canvas()
    paint(plane, 300, 0, 0, clock.BLOCK)
    bit = len(clock.MARKER) + 3  # one bit of the frame number
    plane[0:64, bit * 64:(bit + 1) * 64] = 255 - plane[0:64, bit * 64:(bit + 1) * 64]
    assert clock.read(plane) == {}
    assert clock.read(canvas()) == {}


def ts_packet(pid: int, start: bool) -> bytes:
    return bytes([0x47, (0x40 if start else 0) | (pid >> 8), pid & 0xFF, 0x10]) + bytes(184)


def test_frames_are_cut_before_each_video_pes_start() -> None:
    data = b"".join([ts_packet(0, True), ts_packet(0x100, True), ts_packet(0x100, False), ts_packet(0x101, True),
                     ts_packet(0x100, True), ts_packet(0x100, False)])
    frames = clock.frames_of(data)
    assert [len(f) // 188 for f in frames] == [4, 2]  # tables and audio ride with the frame they follow


def test_observations_match_the_sender_that_sent_them() -> None:
    # sender 0 sends frame n at 100 + n/30, sender 1 sends frame n at 96 + n/30 (4 s earlier in the file)
    logs = [{"log": [(n, 100 + n / 30, 100.001 + n / 30) for n in range(300)]},
            {"log": [(n, 96 + n / 30, 96.001 + n / 30) for n in range(300)]}]
    seen = [("q0", 90, 100 + 90 / 30 + 0.045), ("q1", 200, 96 + 200 / 30 + 0.050),
            ("q1", 201, 96 + 201 / 30 + 0.040), ("q0", 91, 100 + 91 / 30 + 0.035)]
    result = clock.latencies(seen, logs, 0, 1000)
    assert result["tiles"] == {"q0": 0, "q1": 1}
    assert result["from_first_ms"] == sorted(result["from_first_ms"])
    assert [round(x) for x in result["from_first_ms"]] == [35, 40, 45, 50]
    assert result["mismatched"] == 0 and result["unmatched"] == 0


def test_a_busy_run_gives_no_verdicts() -> None:
    results = {"meta": {"other_load_pct": 35.0, "quiet_limit_pct": 20.0}}
    assert not report.quiet(results)
    results["meta"]["other_load_pct"] = 12.0
    assert report.quiet(results)
    assert not report.quiet({"meta": {"quiet_limit_pct": 20.0}})  # not measured: no verdicts either
