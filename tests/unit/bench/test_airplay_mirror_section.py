"""The AirPlay mirror benchmark section: verdict rows and Markdown from stored results (no run)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import airplay_mirror  # noqa: E402

RESULT = {
    "loadavg_start": [0.4, 0.3, 0.2], "loadavg_end": [0.6, 0.4, 0.2],
    "throughput": {"access_units": 600, "ratio_median": 1.05, "ratio_best": 1.2, "runs": [
        {"ffmpeg_s": 5.0, "ffmpeg_cpu_s": 4.9, "ours_s": 4.8, "ours_cpu_s": 4.7, "cpu_ratio": 1.04, "frames": 600,
         "depacketize_ms_per_frame": 0.2, "ratio": 1.05}]},
    "latency": {"frames_sent": 480, "received": 480, "decoded": 480, "dropped": 0, "late": 0, "shown": 470,
                "decode_ms": {"p50": 4.0, "p95": 6.0, "p99": 8.0}, "added_ms": {"p50": 2.5, "p95": 4.0, "p99": 9.0},
                "delay_ms": {"p50": 6.5, "p95": 9.0, "p99": 12.0},
                "composite_ms": {"p50": 14.0, "p95": 20.0, "p99": 25.0}},
    "play_first_frame_s": [0.4, 0.5, 1.6],
}


def test_verdicts_follow_the_targets() -> None:
    rows = airplay_mirror.verdicts(RESULT)
    assert [ok for *_, ok in rows] == [True, False, True]
    assert rows[1][2] == "2.50 ms" and rows[2][2] == "0.50 s (n=3)"


def test_nothing_measured_gives_no_verdict() -> None:
    assert [ok for *_, ok in airplay_mirror.verdicts({})] == [None, None, None]
    assert airplay_mirror.section({})[0].startswith("Method:")


def test_section_tables() -> None:
    text = "\n".join(airplay_mirror.section(RESULT))
    assert "| 0 | 600 | 5.00 | 4.80 | 1.05 | 4.90 | 4.70 | 1.04 | 0.200 |" in text
    assert "| added beyond decode ms | 2.5 | 4.0 | 9.0 |" in text
    assert "p50 0.500 s" in text and "Load average" in text
    assert airplay_mirror.TITLE
