"""The box PIN: off, fixed or rotating; constant-time comparison; per-peer lockout."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable

import attrs

from ..errors import AuthFailed, PinRequired

__all__ = ["FailureLimiter", "PinGate", "random_digits"]


def random_digits(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


@attrs.define
class _Failures:
    count: int = 0
    locked_until: float = 0.0


class FailureLimiter:
    """Counts failures per key; ``max_failures`` in a row locks the key for ``lockout`` seconds.

    Used for PIN attempts (keyed by peer identity) and for admin password attempts.
    """

    def __init__(self, max_failures: int, lockout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.lockout = lockout
        self._clock = clock
        self._by_key: dict[str, _Failures] = {}

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again (0 when not locked)."""
        entry = self._by_key.get(key)
        if entry is None:
            return 0.0
        left = entry.locked_until - self._clock()
        if left <= 0 and entry.locked_until:
            del self._by_key[key]  # the lockout ran out: start counting afresh
            return 0.0
        return max(0.0, left)

    def failure(self, key: str) -> float:
        """Record a failure; returns the lockout now in force (0 if none)."""
        entry = self._by_key.setdefault(key, _Failures())
        entry.count += 1
        if entry.count >= self.max_failures:
            entry.locked_until = self._clock() + self.lockout
            entry.count = 0
            return self.lockout
        return 0.0

    def success(self, key: str) -> None:
        self._by_key.pop(key, None)


class PinGate:
    """Holds the current PIN and checks attempts.

    ``mode`` is ``off``, ``fixed`` or ``rotating``. The PIN is never logged or put in a repr.
    Protocols that check the PIN inside their own handshake (SRP pairing) call ``check_locked``
    before and ``report`` after, so lockouts apply to every protocol alike.
    """

    def __init__(
        self,
        mode: str,
        *,
        fixed: str = "",
        length: int = 4,
        max_failures: int = 5,
        lockout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.mode = mode
        self.length = length
        self._fixed = fixed
        self._pin: str | None = None
        self._limiter = FailureLimiter(max_failures, lockout, clock)
        self._on_change = on_change
        self.rotations = 0
        self.rotate()

    def __repr__(self) -> str:
        return f"PinGate(mode={self.mode!r})"

    @property
    def required(self) -> bool:
        return self.mode != "off"

    def current(self) -> str | None:
        """The PIN to show on screen (``None`` when the PIN is off)."""
        return self._pin

    def rotate(self) -> None:
        """Draw a new PIN (rotating mode) and notify listeners; no-op for off/fixed."""
        previous = self._pin
        if self.mode == "off":
            self._pin = None
        elif self.mode == "fixed":
            self._pin = self._fixed
        else:
            pin = random_digits(self.length)
            while previous is not None and pin == previous:
                pin = random_digits(self.length)
            self._pin = pin
            self.rotations += 1
        if self._pin != previous and self._on_change is not None:
            self._on_change()

    def configure(self, mode: str, *, fixed: str = "", length: int | None = None) -> None:
        """Apply a new PIN setting at run time (config reload). A rotating PIN that is still valid stays on
        screen; listeners hear of it when the mode or the PIN changed. Lockouts are kept."""
        previous, previous_mode = self._pin, self.mode
        self.mode, self._fixed = mode, fixed
        if length is not None:
            self.length = length
        if mode == "off":
            self._pin = None
        elif mode == "fixed":
            self._pin = fixed
        elif previous_mode != "rotating" or previous is None or len(previous) != self.length:
            self._pin = random_digits(self.length)
            self.rotations += 1
        if (self._pin != previous or mode != previous_mode) and self._on_change is not None:
            self._on_change()

    def check_locked(self, identity: str) -> None:
        wait = self._limiter.retry_after(identity)
        if wait > 0:
            raise AuthFailed(f"too many wrong PINs; try again in {int(wait) + 1} s", retry_after=wait)

    def report(self, identity: str, ok: bool) -> None:
        """Record an attempt a protocol verified itself; raises ``AuthFailed`` for a wrong one."""
        if ok:
            self._limiter.success(identity)
            return
        locked = self._limiter.failure(identity)
        if locked:
            raise AuthFailed(f"too many wrong PINs; try again in {int(locked)} s", retry_after=locked)
        raise AuthFailed("wrong PIN")

    def verify(self, identity: str, candidate: str | None) -> None:
        """Check a typed PIN in constant time; raises ``PinRequired`` or ``AuthFailed``."""
        if self._pin is None:
            return
        self.check_locked(identity)
        if not candidate:
            raise PinRequired("this screen needs the PIN shown on it")
        ok = hmac.compare_digest(candidate.strip().encode(), self._pin.encode())
        self.report(identity, ok)
