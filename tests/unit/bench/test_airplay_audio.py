"""The AirPlay audio benchmark section (``bench/airplay_audio.py``) without running it: the first-sound
detection in a growing PCM file, the verdict rows and the Markdown for full, partial and failed results."""

from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import airplay_audio  # noqa: E402


def test_first_sound_skips_silence_written_after_the_mark(tmp_path: Path) -> None:
    out = airplay_audio.PcmFile(tmp_path / "out.pcm", header=0)
    out.path.write_bytes(np.full(400, 7, "<i2").tobytes())  # an earlier run's sound, before the mark
    mark = out.size()
    with open(out.path, "ab") as f:
        f.write(bytes(4 * 100) + np.array([0, 0, 3, -3], "<i2").tobytes())
    first_bytes, first_sound = out.first_sound(mark, timeout=1.0)
    assert first_bytes is not None and first_sound is not None and first_sound >= first_bytes
    assert out.first_sound(out.size(), timeout=0.05) == (None, None)


def test_test_wav_is_never_silent(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    airplay_audio.write_wav(path, 0.5)
    with wave.open(str(path)) as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    assert len(samples) == 2 * 22050 and np.all(samples != 0)


def test_verdicts_and_section() -> None:
    res = {"runs": 2, "drift_minutes": 1.0, "sender": "pyatv 0.13.0 (RAOP, ALAC)", "receiver_ref": "shairport-sync 3.3.8",
           "latency": {"box": [{"error": None, "first_bytes_ms": 1600.0, "first_sound_ms": 1600.0}] * 2,
                       "shairport-sync": [{"error": None, "first_bytes_ms": 1000.0, "first_sound_ms": 1000.0},
                                          {"error": "X", "first_bytes_ms": None, "first_sound_ms": None}]},
           "sustained": {"box": {"error": None, "window_s": 55.0, "drift_ms_per_min": -0.2, "jitter_ms": 3.0,
                                 "cpu_pct": 7.0, "idle_cpu_pct": 0.1, "rss_mib": 150.0, "idle_rss_mib": 100.0},
                         "shairport-sync": {"error": "nothing was played"}}}
    rows = airplay_audio.verdicts(res)
    assert rows[0][2].startswith("1.60×") and rows[0][3] is False
    assert rows[1][2] == "0.200 ms/min" and rows[1][3] is True and "0.92 min window" in rows[1][0]
    text = "\n".join(airplay_audio.section(res))
    assert "| shairport-sync | 1000.0 | 1000.0 | 1000.0 | 1000.0 | 1 |" in text
    assert "| shairport-sync | – | nothing was played | | | | |" in text
    assert [r[3] for r in airplay_audio.verdicts({})] == [None, None]
    assert airplay_audio.section({"error": "pyatv missing"}) == ["Not measured: pyatv missing"]


def test_drift_line_ignores_a_stall() -> None:
    t = np.arange(0, 60, 0.25)
    frames = t * 44100 * (1 + 0.5 / 60_000)  # 0.5 ms/min fast
    frames[100:104] -= 0.3 * 44100  # a 300 ms stall, then caught up
    slope = airplay_audio.theil_sen_slope(t, frames)
    assert abs((slope / 44100 - 1) * 60_000 - 0.5) < 0.01
