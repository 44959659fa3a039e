"""Join attempts per client address, sans-I/O (the caller passes the clock).

The core locks out wrong PINs per identity; the browser's token is chosen by the browser, so a
client could change it on each attempt. This bound, per source address, stops that: at most
``burst`` joins, refilled at ``per_minute``.
"""

from __future__ import annotations

__all__ = ["JoinRateLimit"]


class JoinRateLimit:
    def __init__(self, burst: int = 6, per_minute: float = 6.0, max_addresses: int = 4096) -> None:
        self.burst = burst
        self.rate = per_minute / 60.0
        self.max_addresses = max_addresses
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, last time)

    def allow(self, address: str, now: float) -> float | None:
        """``None`` if a join from ``address`` may go on, else the seconds until it may."""
        tokens, last = self._buckets.get(address, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[address] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if address not in self._buckets and len(self._buckets) >= self.max_addresses:
            self._forget_full(now)
        self._buckets[address] = (tokens - 1.0, now)
        return None

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (they hold no information), else the oldest."""
        for address, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.rate >= self.burst:
                del self._buckets[address]
        while len(self._buckets) >= self.max_addresses:
            del self._buckets[next(iter(self._buckets))]
