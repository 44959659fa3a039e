"""``CompositePacer``: when the display thread should compose, paced by the sources' frames.

Sans-clock: every call gets the time (``time.monotonic()`` in the box, made-up times in tests).

A composite is made when new frames have arrived, not on a free-running timer:

* each visible source's frame period is learnt from the times its frames reach their surface
  (a moving average), and the *grid* of when its frames are due (the earliest arrivals: decoding
  and scheduling only ever delay a frame, so the lower envelope is the sender's own rhythm);
* a pending frame (on its surface, not yet composed) must be composed before its own successor
  replaces it: its *deadline* is a tenth of that source's period before the next frame is due (a
  frame that arrives late is composed at once, its successor is already close);
* until then the composite waits for every other source due before that deadline (and not
  overdue by more than half its period), so four 30 fps senders give one composite per frame
  interval with a frame of each, about 30 a second, not one per frame; a slow source (a static
  slide, a frame a second) is not waited for by a fast one;
* never more often than ``[display] fps``: when a source is faster than the display (a 60 fps
  sender on a 30 fps box) composites are at least one display interval apart; otherwise at least
  half of one (a late frame right after a composite is shown without waiting a whole interval).

Thread-safe: decode threads report frames (``frame``), the display thread asks ``due`` and reports
``composed``. ``frame`` answers whether the display thread must be woken now: the composite is due
now, or a pending frame must be composed before the time the display thread planned to look again.
One wake-up per composite in the steady state, not one per frame.
"""

from __future__ import annotations

import math
import threading

import attrs

__all__ = ["CompositePacer"]

#: composite at the latest this fraction of a source's period before its next frame is due
GUARD = 0.1
#: a source overdue by more than this fraction of its period is not waited for
LATE = 0.5
#: moving average weight of a new frame interval
ALPHA = 1 / 16
#: frame intervals outside these bounds (seconds) are clamped: a pause is not a frame rate
MIN_PERIOD, MAX_PERIOD = 1 / 240, 1.0
#: a source silent for this many periods starts a new grid when it comes back
REGRID_PERIODS = 3
#: how far the grid may move later per frame (seconds): follows a sender whose clock is slower
GRID_DRIFT = 0.0005
#: a pending frame's deadline this much (seconds) before the display thread's planned look does
#: not wake it (it looks a little after the deadline, well before the successor is due)
WAKE_SLACK = 0.002


@attrs.define
class _Source:
    last: float  # when its latest frame reached the surface
    grid: float  # when its latest frame was due (lower envelope of arrivals)
    period: float | None = None  # learnt frame interval
    intervals: int = 0  # how many it was learnt from
    pending: bool = True  # a frame not composed yet

    def expected(self) -> float | None:
        return None if self.period is None else self.grid + self.period


class CompositePacer:
    def __init__(self, fps: int) -> None:
        self.interval = 1.0 / max(1, fps)
        self._lock = threading.Lock()
        self._sources: dict[str, _Source] = {}
        self._visible: frozenset[str] = frozenset()
        self._last_composite = -math.inf
        self._wake_at = math.inf  # when the display thread plans to look again

    def set_visible(self, keys: frozenset[str] | set[str]) -> None:
        """The sources the layout shows (others neither wait nor are waited for)."""
        with self._lock:
            self._visible = frozenset(keys)
            for key in [k for k in self._sources if k not in self._visible]:
                del self._sources[key]

    def frame(self, key: str, now: float) -> bool:
        """A new frame of ``key`` reached its surface; True: wake the display thread now."""
        with self._lock:
            if key not in self._visible:
                return False
            source = self._sources.get(key)
            if source is None:
                self._sources[key] = _Source(now, now)
            else:
                gap = now - source.last
                clamped = min(max(gap, MIN_PERIOD), MAX_PERIOD)
                period = source.period
                source.intervals += 1
                weight = max(ALPHA, 1 / source.intervals)  # a plain mean over the first intervals
                source.period = clamped if period is None else period + weight * (clamped - period)
                if period is None or gap > REGRID_PERIODS * period:
                    source.grid = now
                else:
                    # due one period after the last one (a late frame does not move the rhythm), but
                    # never more than half a period before it came (the rhythm was misjudged)
                    source.grid = min(now, max(source.grid + period + GRID_DRIFT, now - LATE * period))
                source.last, source.pending = now, True
            when, deadline = self._plan(now)
            # wake for a composite due now, or for a deadline the display thread does not know yet;
            # a frame that only shortens the wait for the others does not wake it (the last of them
            # makes the composite due now)
            return when <= now or deadline + WAKE_SLACK < self._wake_at

    def composed(self, started: float) -> None:
        """The display thread made a composite that began at ``started``: it took every frame that had
        arrived by then (a frame that came while it was drawn stays pending)."""
        with self._lock:
            self._last_composite = started
            for source in self._sources.values():
                if source.last <= started:
                    source.pending = False

    def due(self, now: float) -> float:
        """Seconds until the next composite should be made (0: now; ``inf``: nothing is pending)."""
        with self._lock:
            return self._due(now)

    def look_at(self, now: float) -> float:
        """When the display thread should look again: the composite's time, or, with nothing pending,
        the deadline the next frame will bring if it comes on time (so that, in the steady state,
        the only wake-up of a composite is the one its last frame gives)."""
        with self._lock:
            when, _deadline = self._plan(now)
            if when < math.inf:
                return max(now, when)
            # a frame already later than that wakes the display thread itself when it comes
            upcoming = [t for s in self._sources.values() if s.period is not None
                        and (t := s.grid + (2 - GUARD) * s.period) > now]
            return min(upcoming, default=math.inf)

    def sleeping_until(self, when: float) -> None:
        """The display thread will look again at ``when`` (``inf``: only when woken)."""
        with self._lock:
            self._wake_at = when

    def _due(self, now: float) -> float:
        when, _deadline = self._plan(now)
        return max(0.0, when - now)

    def _plan(self, now: float) -> tuple[float, float]:
        """(when to compose, the latest it may be for no pending frame to be replaced)."""
        pending = [s for s in self._sources.values() if s.pending]
        if not pending:
            return math.inf, math.inf
        deadline = math.inf
        for source in pending:
            expected = source.expected()
            # a source whose rhythm is not known yet is shown at once
            deadline = min(deadline, source.last if expected is None or source.period is None
                           else expected - GUARD * source.period)
        wait_until = now
        for source in self._sources.values():
            expected = source.expected()
            if source.pending or expected is None or source.period is None:
                continue
            latest = expected + LATE * source.period
            # worth waiting for: due before the deadline (a slow source's next frame, far off, could
            # not be in this composite anyway), or a little late
            if expected <= deadline and now <= latest:
                wait_until = max(wait_until, latest)
        periods = [s.period for s in self._sources.values() if s.period is not None]
        faster_than_display = bool(periods) and min(periods) < 0.9 * self.interval
        gap = self.interval if faster_than_display else 0.5 * self.interval
        earliest = self._last_composite + gap
        return max(min(wait_until, deadline), earliest), max(deadline, earliest)
