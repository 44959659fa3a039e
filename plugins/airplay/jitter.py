"""Reorder buffer for RAOP audio with retransmit-request deadlines; sans-I/O (the caller passes ``now``).

Packets are released in sequence order as soon as they are contiguous. A gap holds the
packets behind it: each missing sequence number is asked for again (``due_requests``) every
``retry_interval`` seconds, and given up after ``give_up_after`` seconds (then reported as lost
so the decoder resyncs). The buffer holds at most ``capacity`` packets; beyond that the oldest
gap is given up at once.
"""

from __future__ import annotations

import attrs

__all__ = ["JitterBuffer", "Released"]

_WRAP = 1 << 16


@attrs.frozen
class Released:
    sequence: int  # 16-bit sequence number as sent
    timestamp: int
    payload: bytes
    after_loss: bool


@attrs.define
class _Missing:
    first_seen: float
    last_request: float | None = None


class JitterBuffer:
    def __init__(self, *, capacity: int = 1024, retry_interval: float = 0.1, give_up_after: float = 0.8) -> None:
        self.capacity = capacity
        self.retry_interval = retry_interval
        self.give_up_after = give_up_after
        self._next: int | None = None  # extended sequence number expected next
        self._held: dict[int, tuple[int, bytes]] = {}
        self._highest: int | None = None  # highest extended sequence number seen since the last reset
        self._missing: dict[int, _Missing] = {}
        self._loss_pending = False
        self.received = 0
        self.duplicates = 0
        self.late = 0
        self.lost = 0
        self.recovered = 0
        self.requested = 0

    @property
    def depth(self) -> int:
        return len(self._held)

    def reset(self, next_sequence: int | None = None) -> None:
        """FLUSH: forget everything held; the next packet starts a new run."""
        self._held.clear()
        self._missing.clear()
        self._highest = None
        self._next = None if next_sequence is None else next_sequence & 0xFFFF
        self._loss_pending = False

    def _extend(self, sequence: int) -> int:
        assert self._next is not None
        diff = (sequence - self._next) % _WRAP
        return self._next + diff if diff < _WRAP // 2 else self._next - (_WRAP - diff)

    def push(self, sequence: int, timestamp: int, payload: bytes, now: float, *, retransmitted: bool = False) -> None:
        if self._next is None:
            self._next = sequence & 0xFFFF
        ext = self._extend(sequence & 0xFFFF)
        if ext < self._next:
            self.late += 1
            return
        if ext in self._held:
            self.duplicates += 1
            return
        if ext - self._next >= self.capacity * 4:  # a jump far ahead: the sender restarted its numbering
            self.reset(sequence)
            ext = self._next
            self._loss_pending = True
        self.received += 1
        if self._missing.pop(ext, None) is not None and retransmitted:
            self.recovered += 1
        self._held[ext] = (timestamp, payload)
        start = self._next if self._highest is None else max(self._next, self._highest + 1)
        for gap in range(start, ext):  # only the numbers this packet skipped are new gaps
            if gap not in self._held and gap not in self._missing:
                self._missing[gap] = _Missing(now)
        self._highest = ext if self._highest is None else max(self._highest, ext)

    def due_requests(self, now: float) -> list[tuple[int, int]]:
        """``(first sequence, count)`` runs to ask the sender for now."""
        due = sorted(ext for ext, m in self._missing.items()
                     if m.last_request is None or now - m.last_request >= self.retry_interval)
        runs: list[tuple[int, int]] = []
        for ext in due:
            self._missing[ext].last_request = now
            self.requested += 1
            if runs and runs[-1][0] + runs[-1][1] == ext:
                runs[-1] = (runs[-1][0], runs[-1][1] + 1)
            else:
                runs.append((ext, 1))
        return [(first % _WRAP, count) for first, count in runs]

    def pop_ready(self, now: float) -> list[Released]:
        out: list[Released] = []
        if self._next is None:
            return out
        while self._held:
            if self._next in self._held:
                timestamp, payload = self._held.pop(self._next)
                out.append(Released(self._next % _WRAP, timestamp, payload, self._loss_pending))
                self._loss_pending = False
                self._next += 1
                continue
            missing = self._missing.get(self._next)
            overfull = len(self._held) >= self.capacity
            if missing is not None and not overfull and now - missing.first_seen < self.give_up_after:
                break
            self._missing.pop(self._next, None)
            self.lost += 1
            self._loss_pending = True
            self._next += 1
        return out
