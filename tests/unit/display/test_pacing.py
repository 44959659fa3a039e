"""``CompositePacer`` with made-up times (sans-clock): composites follow the sources' frames.

The simulation feeds frame arrivals of senders (their period, phase and a jitter) into the pacer
and composes when it says so, as the display thread does; it counts composites and frames replaced
on their surface before a composite took them ("never shown").
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver_core.display.pacing import CompositePacer

COMPOSE_COST = 0.002  # the display thread's work per composite (s)


def simulate(periods: list[float], fps: int, seconds: float = 20.0, jitter: float = 0.004,
             seed: int = 1, wakes: list[int] | None = None) -> tuple[float, float, float]:
    """(composites per second, % of frames never shown, median wait from frame to composite in ms);
    ``wakes`` gets the number of times a frame woke the display thread."""
    rnd = random.Random(seed)
    arrivals: list[tuple[float, str]] = []
    for index, period in enumerate(periods):
        phase = rnd.random() * period
        k = 0
        while phase + k * period < seconds:
            # decoding and scheduling only delay a frame: a gamma-distributed delay, mean `jitter`
            arrivals.append((phase + k * period + rnd.gammavariate(1.5, jitter / 1.5), f"s{index}"))
            k += 1
    arrivals.sort()
    pacer = CompositePacer(fps)
    pacer.set_visible({f"s{i}" for i in range(len(periods))})
    pending: dict[str, float] = {}
    lost = composites = 0
    waits: list[float] = []
    busy_until = 0.0
    i = 0
    while i < len(arrivals) or pending:
        now_due = pacer.due(busy_until) if pending else math.inf
        compose_at = busy_until + now_due
        next_arrival = arrivals[i][0] if i < len(arrivals) else math.inf
        if compose_at <= next_arrival and pending:
            now = max(compose_at, busy_until)
            waits.extend(now - t for t in pending.values())
            pending.clear()
            pacer.composed(now)
            composites += 1
            busy_until = now + COMPOSE_COST
            pacer.sleeping_until(pacer.look_at(busy_until))  # the display thread goes back to sleep
            continue
        t, key = arrivals[i]
        i += 1
        if key in pending:
            lost += 1
        pending[key] = t
        if pacer.frame(key, t):
            if wakes is not None:
                wakes.append(1)
            pacer.sleeping_until(pacer.look_at(t))  # woken: it looks, and sleeps until the plan
        busy_until = max(busy_until, t)
    waits.sort()
    return composites / seconds, 100 * lost / len(arrivals), 1000 * waits[len(waits) // 2]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_four_30fps_senders_give_about_30_composites_and_almost_every_frame(seed: int) -> None:
    rate, never_shown, _wait = simulate([1 / 30] * 4, fps=30, seed=seed)
    assert 29 <= rate <= 31.5, rate
    assert never_shown < 1.0, never_shown


def test_the_display_thread_wakes_about_once_per_composite() -> None:
    wakes: list[int] = []
    rate, _never_shown, _wait = simulate([1 / 30] * 4, fps=30, wakes=wakes)
    per_composite = len(wakes) / (rate * 20.0)
    assert per_composite < 1.5, f"{per_composite:.2f} wake-ups per composite (4 frames each)"


def test_a_60fps_display_composes_30fps_senders_at_their_rate() -> None:
    rate, never_shown, _wait = simulate([1 / 30] * 4, fps=60)
    assert rate <= 32, rate
    assert never_shown < 1.0, never_shown


def test_one_sender_is_composed_at_once() -> None:
    rate, never_shown, wait = simulate([1 / 30], fps=60)
    assert 29 <= rate <= 30.5, rate
    assert never_shown == 0
    assert wait < 1.0, wait  # nothing to wait for


def test_a_sender_faster_than_the_display_is_composed_at_the_display_rate() -> None:
    rate, never_shown, _wait = simulate([1 / 60], fps=30)
    assert 27 <= rate <= 30.5, rate
    assert never_shown > 40  # half of a 60 fps sender cannot be shown at 30 composites a second


def test_senders_of_different_rates_lose_nearly_nothing() -> None:
    rate, never_shown, _wait = simulate([1 / 30, 1 / 15], fps=30)
    assert rate <= 32, rate
    assert never_shown < 2.0, never_shown


def test_a_slow_sender_does_not_delay_a_fast_one() -> None:
    # a presenter on a static slide (one frame a second) beside one playing video
    _rate, never_shown, wait = simulate([1 / 30, 1.0], fps=30)
    assert never_shown < 1.0, never_shown
    assert wait < 3.0, f"the video waits {wait:.1f} ms for a frame that is a second away"


def test_a_silent_sender_does_not_hold_back_the_others() -> None:
    pacer = CompositePacer(30)
    pacer.set_visible({"a", "b"})
    t = 0.0
    for _ in range(10):  # both play at 30 fps
        pacer.frame("a", t)
        pacer.frame("b", t + 0.001)
        pacer.composed(t + 0.002)
        t += 1 / 30
    pacer.frame("a", t)
    assert pacer.due(t) > 0.005, "b is due in a millisecond: worth waiting for"
    t += 1.0  # b goes quiet (a static screen sends nothing); a plays on
    pacer.composed(t)
    pacer.frame("a", t + 1 / 30)
    assert pacer.due(t + 1 / 30) == 0, "b is long overdue: a is composed at once"


def test_a_pending_frame_is_composed_before_its_successor_is_due() -> None:
    pacer = CompositePacer(30)
    pacer.set_visible({"a", "b"})
    t = 0.0
    for _ in range(10):  # a at phase 0, b at phase 30 ms: b is always just before a's next frame
        pacer.frame("a", t)
        pacer.frame("b", t + 0.030)
        pacer.composed(t + 0.031)
        t += 1 / 30
    pacer.frame("a", t)
    due = pacer.due(t)
    assert due < 1 / 30, "a's next frame would replace it"
    assert due >= 0.025, "b is due before that: the composite waits for it"


def test_frames_of_hidden_sessions_neither_wake_nor_count() -> None:
    pacer = CompositePacer(30)
    pacer.set_visible({"a"})
    assert pacer.frame("hidden", 0.0) is False
    assert pacer.due(0.0) == math.inf
    assert pacer.frame("a", 0.0) is True
    assert pacer.due(0.0) == 0


def test_the_display_thread_is_woken_only_when_the_composite_gets_earlier() -> None:
    pacer = CompositePacer(30)
    pacer.set_visible({"a", "b"})
    t = 0.0
    for _ in range(10):
        pacer.frame("a", t)
        pacer.frame("b", t + 0.010)
        pacer.composed(t + 0.011)
        t += 1 / 30
    pacer.sleeping_until(t + 0.5)
    assert pacer.frame("a", t) is True, "the first pending frame sets the time to look again"
    pacer.sleeping_until(t + pacer.due(t))
    assert pacer.frame("b", t + 0.010) is True, "everyone is in: compose now"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0005, 0.2), st.integers(0, 3)), min_size=1, max_size=200),
       st.sampled_from([24, 30, 60]))
def test_any_arrivals_give_a_finite_plan_and_composites_spaced_by_half_an_interval(
        steps: list[tuple[float, int]], fps: int) -> None:
    pacer = CompositePacer(fps)
    pacer.set_visible({"s0", "s1", "s2", "s3"})
    now, last_composite = 0.0, -math.inf
    for gap, index in steps:
        now += gap
        pacer.frame(f"s{index}", now)
        due = pacer.due(now)
        assert 0 <= due < 2.0, due  # something is pending: a composite is planned, and soon
        assert pacer.look_at(now) >= now
        if due == 0:
            assert now - last_composite >= 0.5 / fps - 1e-9
            pacer.composed(now)
            last_composite = now


def test_with_nothing_pending_the_next_look_is_never_in_the_past() -> None:
    # a late frame must not make the display thread spin until it comes
    pacer = CompositePacer(30)
    pacer.set_visible({"a"})
    t = 0.0
    for _ in range(5):
        pacer.frame("a", t)
        pacer.composed(t)
        t += 1 / 30
    late = t + 0.5  # the sender stalls
    assert pacer.due(late) == math.inf
    assert pacer.look_at(late) == math.inf
    pacer.sleeping_until(math.inf)
    assert pacer.frame("a", late) is True, "the late frame wakes the display thread itself"
