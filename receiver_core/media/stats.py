"""Per-stream counters and timings for ``GET /api/status``."""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

__all__ = ["StreamStats", "percentile"]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class StreamStats:
    """Counters (received, decoded, dropped, corrupt, shown) and recent timings of one stream.

    Written by the link's decode thread and read by the status API; a lock keeps the deques
    consistent. Timings keep the last ``window`` samples.
    """

    def __init__(self, kind: str, window: int = 300) -> None:
        self.kind = kind
        self.received = 0
        self.decoded = 0
        self.dropped = 0
        self.corrupt = 0
        self.late = 0
        self.shown = 0
        self.keyframe_requests = 0
        self.decoder = ""
        self.caps = ""
        self.size = ""
        self.error: str | None = None
        self._lock = threading.Lock()
        self._decode_ms: collections.deque[float] = collections.deque(maxlen=window)
        self._delay_ms: collections.deque[float] = collections.deque(maxlen=window)
        self._added_ms: collections.deque[float] = collections.deque(maxlen=window)
        self._composite_ms: collections.deque[float] = collections.deque(maxlen=window)
        self._shown_at: collections.deque[float] = collections.deque(maxlen=120)

    def record_decode(self, decode_ms: float) -> None:
        with self._lock:
            self._decode_ms.append(decode_ms)

    def record_ready(self, arrival: float, ready: float, decode_ms: float) -> None:
        """A frame reached its surface: end-to-end delay and delay beyond decoding."""
        delay = (ready - arrival) * 1000
        with self._lock:
            self._delay_ms.append(delay)
            self._added_ms.append(max(0.0, delay - decode_ms))

    def record_shown(self, arrival: float, now: float | None = None) -> None:
        """The frame made it into a composite: counts it and the delay from arrival to the composite."""
        now = now if now is not None else time.monotonic()
        with self._lock:
            self.shown += 1
            self._shown_at.append(now)
            self._composite_ms.append((now - arrival) * 1000)

    def fps(self, now: float | None = None) -> float:
        now = now if now is not None else time.monotonic()
        with self._lock:
            recent = [t for t in self._shown_at if now - t <= 2.0]
        return round(len(recent) / 2.0, 1)

    def samples(self) -> dict[str, list[float]]:
        with self._lock:
            return {"decode_ms": list(self._decode_ms), "delay_ms": list(self._delay_ms),
                    "added_ms": list(self._added_ms), "composite_ms": list(self._composite_ms)}

    def status(self) -> dict[str, Any]:
        s = self.samples()
        out: dict[str, Any] = {
            "kind": self.kind,
            "caps": self.caps,
            "decoder": self.decoder,
            "size": self.size,
            "received": self.received,
            "decoded": self.decoded,
            "dropped": self.dropped,
            "corrupt": self.corrupt,
            "late": self.late,
            "shown": self.shown,
            "keyframe_requests": self.keyframe_requests,
            "error": self.error,
        }
        if self.kind == "video":
            out["fps"] = self.fps()
        for key in ("decode_ms", "delay_ms", "added_ms", "composite_ms"):
            values = s[key]
            out[key] = {"p50": _round(percentile(values, 50)), "p95": _round(percentile(values, 95)),
                        "p99": _round(percentile(values, 99))}
        return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
