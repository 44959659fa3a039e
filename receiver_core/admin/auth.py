"""Admin authentication: scrypt hashes (``scrypt$n$r$p$salt$hash``, base64), constant-time checks,
password attempts limited before hashing (``PasswordGate``) and session tokens (``TokenStore``)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

import attrs

from ..session.pin import FailureLimiter

__all__ = ["Busy", "Grant", "LockedOut", "PasswordGate", "TokenStore", "csrf_matches", "hash_password",
           "verify_password"]

_N, _R, _P = 2**14, 8, 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    if not password:
        raise ValueError("the password must not be empty")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the ``stored`` hash; malformed hashes never match."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt, validate=True), n=int(n), r=int(r),
                                p=int(p), dklen=len(expected), maxmem=256 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# ---------------------------------------------------------------------------------------- attempts


class PasswordGate:
    """Admin password attempts: the lockout is checked and counted before the hash runs.

    ``begin(key)`` answers at once, with no await in between, so any number of concurrent
    attempts from one address gets at most ``max_failures`` hashes per lockout period: each
    admitted attempt counts as a failure until ``succeeded(key)`` clears it. At most
    ``concurrent`` hashes run at a time and at most ``queue`` attempts wait for one
    (``Busy`` beyond that), so many addresses together cannot take the CPU either.
    """

    def __init__(self, max_failures: int = 5, lockout: float = 60.0, *, concurrent: int = 1, queue: int = 16,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limiter = FailureLimiter(max_failures, lockout, clock)
        self._slots = asyncio.Semaphore(concurrent)
        self._queue = queue
        self._waiting = 0
        self.hashes = 0  # scrypt runs so far (for tests and status)

    def retry_after(self, key: str) -> float:
        return self._limiter.retry_after(key)

    async def check(self, key: str, password: str, stored: str) -> bool:
        """Verify ``password`` for ``key``. Raises ``LockedOut`` or ``Busy`` without hashing."""
        wait = self._limiter.retry_after(key)
        if wait > 0:
            raise LockedOut(wait)
        if self._waiting >= self._queue:
            raise Busy()
        self._limiter.failure(key)  # counted now; undone below if the password is right
        self._waiting += 1
        try:
            async with self._slots:
                self.hashes += 1
                ok = await asyncio.get_running_loop().run_in_executor(None, verify_password, password, stored)
        finally:
            self._waiting -= 1
        if ok:
            self._limiter.success(key)
        return ok


class LockedOut(Exception):
    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"locked out for {retry_after:.0f} s")


class Busy(Exception):
    """Too many password checks are waiting: try again shortly."""


# ---------------------------------------------------------------------------------------- tokens


@attrs.define
class Grant:
    """A logged-in admin: the bearer/cookie token (only its hash is kept) and its CSRF token."""

    csrf: str
    subject: str
    expires: float   # absolute end
    idle_until: float


class TokenStore:
    """Session tokens issued after one password check; random, kept only as SHA-256 digests."""

    def __init__(self, *, lifetime: float = 12 * 3600.0, idle: float = 3600.0, max_tokens: int = 64,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime = lifetime
        self.idle = idle
        self.max_tokens = max_tokens
        self._clock = clock
        self._grants: dict[bytes, Grant] = {}

    @staticmethod
    def _digest(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()

    def issue(self, subject: str) -> tuple[str, Grant]:
        now = self._clock()
        self._expire(now)
        while len(self._grants) >= self.max_tokens:
            del self._grants[next(iter(self._grants))]  # the oldest login goes first
        token = secrets.token_urlsafe(32)
        grant = Grant(csrf=secrets.token_urlsafe(24), subject=subject, expires=now + self.lifetime,
                      idle_until=now + self.idle)
        self._grants[self._digest(token)] = grant
        return token, grant

    def check(self, token: str) -> Grant | None:
        """The grant of a valid token (its idle time restarts), or None."""
        now = self._clock()
        key = self._digest(token)
        grant = self._grants.get(key)
        if grant is None:
            return None
        if now >= grant.expires or now >= grant.idle_until:
            del self._grants[key]
            return None
        grant.idle_until = min(grant.expires, now + self.idle)
        return grant

    def revoke(self, token: str) -> bool:
        return self._grants.pop(self._digest(token), None) is not None

    def _expire(self, now: float) -> None:
        for key, grant in list(self._grants.items()):
            if now >= grant.expires or now >= grant.idle_until:
                del self._grants[key]

    def __len__(self) -> int:
        return len(self._grants)


def csrf_matches(grant: Grant, candidate: str | None) -> bool:
    return candidate is not None and hmac.compare_digest(grant.csrf.encode(), candidate.encode("utf-8", "replace"))
