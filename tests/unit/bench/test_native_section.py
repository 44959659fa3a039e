"""The browser-sharing benchmark section (``bench/native.py``): the painted stamp is read back from a
composite, freezes follow WebRTC's rule, and the verdicts and Markdown come from stored results."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import native  # noqa: E402
import sections  # noqa: E402


def composite_with_stamp(value: int) -> np.ndarray:
    """A 1920x1080 I420 composite whose top-left shows ``value`` as the page paints it, scaled 1.5x."""
    canvas = np.full((1080 * 3 // 2, 1920), 60, np.uint8)
    for i in range(32):
        bit = (value >> (31 - i)) & 1
        canvas[0:24, i * 24:(i + 1) * 24] = 235 if bit else 16
    return canvas


def test_stamp_is_read_from_the_composite() -> None:
    for value in (0, 1, 0xDEADBEEF, 2**32 - 1, 1_764_300_000_123 % 2**32):
        assert native.read_stamp(composite_with_stamp(value)) == value
    assert native.read_stamp(np.zeros((540, 640), np.uint8)) is None  # too narrow for the code


def test_stamp_display_keeps_new_stamps_only_and_ignores_the_idle_screen() -> None:
    display = native.StampDisplay()
    display.present(np.full((1620, 1920), 200, np.uint8))  # the idle screen: no plausible stamp
    assert display.first is None and not display.seen
    import time

    now_ms = int(time.time() * 1000) % 2**32
    frame = composite_with_stamp((now_ms - 20) % 2**32)
    display.present(frame)
    display.present(frame)  # the same frame composed again: not a new one
    assert len(display.seen) == 1 and 15 <= display.seen[0][1] < 1000 and display.first is not None


def test_freezes_follow_the_webrtc_rule() -> None:
    times = [i / 30 for i in range(30)] + [1.5 + i / 30 for i in range(15)]  # one 0.5 s gap
    result = native.freezes(times, 0.0, 2.0)
    assert result["freezes"] == 1 and abs(result["freeze_s"] - (1.5 - 29 / 30)) < 1e-3
    assert native.freezes([i / 30 for i in range(60)], 0.0, 2.0)["freezes"] == 0


def sample_results() -> dict:
    def session(fixes: bool, p50: float, freeze: float, view: bool = False) -> dict:
        out = {"fixes": fixes, "view": view, "idle_cpu": 0.01, "first_frame_s": 0.5, "click_first_frame_s": 0.3,
               "cpu": 0.2, "samples": 300, "p50": p50, "p90": p50 * 2, "fps": 30.0}
        if view:
            out.update(cpu=0.3, view_fps=14.0, viewers=1)
        else:
            out["loss"] = {r: {"freeze_s": freeze, "freezes": 1, "max_gap_ms": 250.0, "fps": 29.0, "dropped": 3,
                               "packets": 300} for r in ("0", "1", "3", "5")}
        return out
    return {"sessions": [session(False, 55, 1.0), session(True, 25, 0.2), session(True, 30, 0.1, view=True)],
            "timing": {"idle": 2, "warmup": 3, "window": 10, "loss": 7, "recover": 1.5}, "rounds": 1,
            "network": "test", "duration_s": 100}


def test_verdicts_and_markdown_from_stored_results() -> None:
    assert sections.load("native") is native
    rows = {what: (measured, ok) for what, _target, measured, ok in native.verdicts(sample_results())}
    glass = next(v for k, v in rows.items() if "glass-to-glass" in k)
    assert glass == ("p50 25 ms (stock aiortc 1.16, same run: 55 ms)", True)
    first = next(v for k, v in rows.items() if "page load" in k)
    assert first[1] is True
    viewer = next(v for k, v in rows.items() if "viewer" in k)
    assert viewer == ("10 % of a core", None)  # 0.3 - 0.01 - (0.2 - 0.01)
    freeze = next(v for k, v in rows.items() if "freeze" in k)
    assert freeze[1] is True
    text = "\n".join(native.section(sample_results()))
    assert "| stock aiortc 1.16 | 5 % | 3 / 300 | 1.00 s |" in text and "14.0 frames/s" in text
    assert native.verdicts({})[0][3] is None  # nothing measured: no verdict
