"""The reorder buffer: in-order release, retransmit requests with deadlines, bounded, wraps at 65535."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from receiver_plugins.airplay.jitter import JitterBuffer


def seqs(released: list) -> list[int]:
    return [r.sequence for r in released]


def test_reorder_and_wrap() -> None:
    jb = JitterBuffer()
    jb.push(65534, 0, b"a", 0.0)
    assert seqs(jb.pop_ready(0.0)) == [65534]
    jb.push(0, 2, b"c", 0.0)
    assert jb.pop_ready(0.0) == []
    assert jb.due_requests(0.0) == [(65535, 1)]
    jb.push(65535, 1, b"b", 0.01, retransmitted=True)
    assert seqs(jb.pop_ready(0.01)) == [65535, 0] and jb.recovered == 1 and jb.lost == 0


def test_requests_repeat_then_give_up() -> None:
    jb = JitterBuffer(retry_interval=0.1, give_up_after=0.5)
    jb.push(10, 0, b"", 0.0)
    jb.pop_ready(0.0)
    jb.push(14, 0, b"", 0.0)
    assert jb.due_requests(0.0) == [(11, 3)]
    assert jb.due_requests(0.05) == []
    assert jb.due_requests(0.11) == [(11, 3)]
    assert jb.pop_ready(0.3) == []
    released = jb.pop_ready(0.6)
    assert seqs(released) == [14] and released[0].after_loss and jb.lost == 3


def test_flush_restarts_the_numbering() -> None:
    jb = JitterBuffer()
    jb.push(100, 0, b"", 0.0)
    jb.push(102, 0, b"", 0.0)
    jb.reset(5000)
    jb.push(5000, 0, b"x", 0.0)
    assert seqs(jb.pop_ready(0.0)) == [5000] and jb.due_requests(0.0) == []


def test_late_and_duplicate_packets_are_counted_not_released() -> None:
    jb = JitterBuffer()
    jb.push(1, 0, b"", 0.0)
    jb.pop_ready(0.0)
    jb.push(1, 0, b"", 0.0)
    jb.push(3, 0, b"", 0.0)
    jb.push(3, 0, b"", 0.0)
    assert jb.late == 1 and jb.duplicates == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 65535), st.floats(0, 0.2)), max_size=300))
def test_fuzz_bounded_and_ordered(events: list[tuple[int, float]]) -> None:
    jb = JitterBuffer(capacity=64, give_up_after=0.3)
    now = 0.0
    last: int | None = None
    for sequence, step in events:
        now += step
        jb.push(sequence, 0, b"", now)
        jb.due_requests(now)
        for item in jb.pop_ready(now):
            if last is not None and not item.after_loss:
                assert item.sequence == (last + 1) % 65536
            last = item.sequence
        assert jb.depth <= 64 * 4
