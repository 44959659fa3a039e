"""Display taps: the composite, scaled down and rate-limited, for plugins that show the room's
screen somewhere else (view-back to a browser, a recorder).

A tap is one (width, height, fps) request. The display thread offers every composite it presents
to the taps that have readers; a tap takes one when its interval has passed, scales it **once**
(libswscale, yuv420p, the canvas' BT.709 kept) and publishes that one ``av.VideoFrame`` to all of
its readers on the event loop. Readers of the same size and rate share the tap, so ten viewers
cost one scale, not ten. A tap without readers is skipped by the display thread (nothing copied,
nothing scaled, FFmpeg not even loaded): nobody watching costs nothing.

A new reader gets the latest frame at once; when the tap had none yet (nobody was watching), the
display thread offers it the composite it presented last, so an idle box (which composes only when
something changes) still answers within one display-loop turn.

Frames are shared between readers: treat them as read-only (an encoder that marks a frame as a
keyframe request only changes that flag, which is harmless to the others).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["TAP_TIME_BASE", "CompositeTap", "TapReader", "DisplayTaps", "tap_size"]

TAP_TIME_BASE = Fraction(1, 90000)  # RTP's video clock; pts count from the tap's creation
MAX_TAP_FPS = 30.0


def tap_size(screen_width: int, screen_height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """The largest even size of the screen's aspect ratio that fits ``max_width`` x ``max_height``
    (never larger than the screen itself)."""
    scale = min(1.0, max_width / screen_width, max_height / screen_height)
    return max(2, int(screen_width * scale) // 2 * 2), max(2, int(screen_height * scale) // 2 * 2)


class TapReader:
    """One consumer of a tap (one viewer). ``await next()`` returns frames newer than the last one."""

    def __init__(self, tap: CompositeTap) -> None:
        self.tap = tap
        self._seen = 0
        self.closed = False

    @property
    def size(self) -> tuple[int, int]:
        return self.tap.width, self.tap.height

    async def next(self) -> Any:
        """The next composite (an ``av.VideoFrame``, yuv420p, pts in ``TAP_TIME_BASE``), shared with
        the other readers; raises ``EOFError`` once this reader or its tap is closed."""
        while True:
            if self.closed or self.tap.closed:
                raise EOFError("display tap closed")
            frame, seq = self.tap.latest, self.tap.seq
            if frame is not None and seq != self._seen:
                self._seen = seq
                return frame
            await self.tap.changed.wait()

    def close(self) -> None:
        """Stop reading (idempotent); the tap stops working when its last reader closes."""
        if not self.closed:
            self.closed = True
            self.tap.remove(self)
            self.tap.wake()  # a next() waiting on this reader ends now (the others wait again)


class CompositeTap:
    """Composites at ``width`` x ``height``, at most ``fps`` a second, for its readers."""

    def __init__(self, width: int, height: int, fps: float, loop: asyncio.AbstractEventLoop,
                 on_change: Callable[[], None]) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.interval = 1.0 / fps
        self._loop = loop
        self._on_change = on_change  # the registry recomputes which taps the display thread feeds
        self.readers: set[TapReader] = set()
        self.latest: Any = None  # av.VideoFrame, set on the loop only
        self.seq = 0
        self.changed = asyncio.Event()
        self.closed = False
        self.frames = 0
        self.scale_seconds = 0.0
        self._origin = time.monotonic()
        self._last_take = -1e9  # display thread only
        self._in_flight = False  # a scaled frame not yet published: the next one waits (display thread)

    # ------------------------------------------------------------------------------ loop side

    def subscribe(self) -> TapReader:
        reader = TapReader(self)
        self.readers.add(reader)
        if len(self.readers) == 1:
            self._on_change()
        return reader

    def remove(self, reader: TapReader) -> None:
        self.readers.discard(reader)
        if not self.readers:
            self.latest = None  # nobody watches: keep no frame
            self._on_change()

    def close(self) -> None:
        self.closed = True
        self.readers.clear()
        self.latest = None
        self.changed.set()
        self._on_change()

    def wake(self) -> None:
        """Wake every waiting reader (each looks again: new frame, or closed)."""
        waiting, self.changed = self.changed, asyncio.Event()
        waiting.set()

    def _publish(self, frame: Any) -> None:
        self._in_flight = False
        if self.closed or not self.readers:
            return
        self.latest = frame
        self.seq += 1
        self.frames += 1
        self.wake()

    # ------------------------------------------------------------------------------ display thread

    def hungry(self) -> bool:
        """Readers but no frame yet: the display thread offers the last composite at once."""
        return self.latest is None and not self._in_flight and not self.closed

    def offer(self, canvas: np.ndarray, now: float, force: bool = False) -> None:
        """Take this composite (I420, ``(h*3//2, w)``) if the interval has passed: scale once, publish."""
        if self._in_flight or (not force and now - self._last_take < self.interval * 0.9):
            return
        self._last_take = now
        import av  # loaded only once somebody watches

        started = time.perf_counter()
        height = canvas.shape[0] * 2 // 3
        frame = av.VideoFrame.from_ndarray(canvas, format="yuv420p")  # a copy: the canvas is reused
        if (canvas.shape[1], height) != (self.width, self.height):
            frame = frame.reformat(width=self.width, height=self.height, format="yuv420p",
                                   interpolation="BILINEAR")
        frame.pts = int((now - self._origin) / TAP_TIME_BASE)
        frame.time_base = TAP_TIME_BASE
        self.scale_seconds += time.perf_counter() - started
        self._in_flight = True
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._publish, frame)

    def status(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "fps": self.fps, "readers": len(self.readers),
                "frames": self.frames,
                "scale_ms": round(1000 * self.scale_seconds / self.frames, 2) if self.frames else None}


class DisplayTaps:
    """The display's taps, keyed by (width, height, fps); the display thread sees only active ones."""

    def __init__(self, screen_width: int, screen_height: int, wake: Callable[[], None]) -> None:
        self.screen = (screen_width, screen_height)
        self._wake = wake
        self._taps: dict[tuple[int, int, float], CompositeTap] = {}
        self._lock = threading.Lock()
        self.active: tuple[CompositeTap, ...] = ()  # replaced whole; read by the display thread

    def subscribe(self, max_width: int, max_height: int, max_fps: float) -> TapReader:
        """A reader of the tap of that size and rate (made on first use, shared afterwards)."""
        if max_width < 16 or max_height < 16 or not 0 < max_fps <= MAX_TAP_FPS:
            raise ValueError(f"a display tap needs a size of at least 16x16 and 0 < fps <= {MAX_TAP_FPS}")
        width, height = tap_size(*self.screen, max_width, max_height)
        key = (width, height, float(max_fps))
        tap = self._taps.get(key)
        if tap is None:
            tap = self._taps[key] = CompositeTap(width, height, float(max_fps), asyncio.get_running_loop(),
                                                 self._recompute)
        return tap.subscribe()

    def _recompute(self) -> None:
        with self._lock:
            self.active = tuple(t for t in self._taps.values() if t.readers and not t.closed)
        self._wake()  # a new reader is offered the last composite without waiting for the next one

    # display thread
    def offer(self, canvas: np.ndarray, now: float) -> None:
        for tap in self.active:
            tap.offer(canvas, now)

    def feed_hungry(self, canvas: np.ndarray | None, now: float) -> None:
        if canvas is None:
            return
        for tap in self.active:
            if tap.hungry():
                tap.offer(canvas, now, force=True)

    def close(self) -> None:
        for tap in list(self._taps.values()):
            tap.close()
        self._taps.clear()

    def status(self) -> list[dict[str, Any]]:
        return [tap.status() for tap in self._taps.values()]
