"""Password attempts counted before the hash, session tokens, the error tally."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from receiver_core.admin import auth
from receiver_core.admin.auth import Busy, LockedOut, PasswordGate, TokenStore, csrf_matches
from receiver_core.admin.tally import ErrorTally


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def slow_verify(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """verify_password that takes 20 ms (as scrypt does) and records what it was asked."""
    seen: list[str] = []

    def verify(password: str, stored: str) -> bool:
        seen.append(password)
        time.sleep(0.02)
        return password == "right"
    monkeypatch.setattr(auth, "verify_password", verify)
    return seen


async def test_concurrent_attempts_cannot_pass_the_lockout(slow_verify: list[str]) -> None:
    gate = PasswordGate(5, 60.0, queue=2000)
    results = await asyncio.gather(*(gate.check("192.0.2.9", f"guess{i}", "h") for i in range(1000)),
                                   return_exceptions=True)
    assert len(slow_verify) == gate.hashes == 5
    assert sum(r is False for r in results) == 5
    assert all(isinstance(r, LockedOut) for r in results if r is not False)
    with pytest.raises(LockedOut):
        await gate.check("192.0.2.9", "right", "h")  # even the right password waits out the lockout
    assert await gate.check("192.0.2.10", "right", "h") is True  # another address is not affected


async def test_a_right_password_clears_the_count(slow_verify: list[str]) -> None:
    clock = Clock()
    gate = PasswordGate(3, 60.0, clock=clock)
    for _ in range(2):
        assert await gate.check("a", "wrong", "h") is False
    assert await gate.check("a", "right", "h") is True
    for _ in range(2):
        assert await gate.check("a", "wrong", "h") is False  # counting starts afresh
    assert await gate.check("a", "wrong", "h") is False
    with pytest.raises(LockedOut) as locked:
        await gate.check("a", "right", "h")
    assert 59 < locked.value.retry_after <= 60
    clock.now += 61
    assert await gate.check("a", "right", "h") is True


async def test_many_addresses_wait_for_one_hash_at_a_time_and_the_queue_is_bounded(slow_verify: list[str]) -> None:
    gate = PasswordGate(5, 60.0, concurrent=1, queue=4)
    results = await asyncio.gather(*(gate.check(f"10.0.0.{i}", "wrong", "h") for i in range(20)),
                                   return_exceptions=True)
    assert sum(isinstance(r, Busy) for r in results) == 16 and gate.hashes == 4


def test_tokens_expire_idle_and_absolute() -> None:
    clock = Clock()
    store = TokenStore(lifetime=100.0, idle=30.0, max_tokens=3, clock=clock)
    token, grant = store.issue("api:x")
    assert store.check(token) is grant and store.check("other") is None
    clock.now += 25
    assert store.check(token) is grant      # used: idle time restarts
    clock.now += 25
    assert store.check(token) is grant
    clock.now += 31
    assert store.check(token) is None       # idle too long
    token, _ = store.issue("api:x")
    for _ in range(4):
        clock.now += 20
        assert store.check(token) is not None
    clock.now += 20
    assert store.check(token) is None       # 100 s absolute lifetime
    tokens = [store.issue("api:x")[0] for _ in range(5)]
    assert len(store) == 3 and store.check(tokens[0]) is None and store.check(tokens[-1]) is not None
    assert store.revoke(tokens[-1]) and store.check(tokens[-1]) is None


def test_csrf_compare() -> None:
    _, grant = TokenStore().issue("x")
    assert csrf_matches(grant, grant.csrf)
    assert not csrf_matches(grant, None) and not csrf_matches(grant, grant.csrf + "x")
    assert not csrf_matches(grant, "\udc80")


def test_tally_logs_once_per_cause_and_window(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    tally = ErrorTally(logging.getLogger("test.tally"), window=60.0, clock=clock)
    caplog.set_level(logging.DEBUG, "test.tally")
    for _ in range(1000):
        tally.note("header-timeout", "closed a slow connection")
    tally.note("wrong-password 192.0.2.9", "wrong admin password from 192.0.2.9")
    assert [r.getMessage() for r in caplog.records] == ["closed a slow connection",
                                                        "wrong admin password from 192.0.2.9"]
    tally.flush()
    assert caplog.records[-1].getMessage() == "header-timeout: 999 more in the last 60 s"
    tally.flush()
    assert len(caplog.records) == 3  # nothing new, nothing said
    clock.now += 61
    tally.note("header-timeout", "closed a slow connection")
    assert caplog.records[-1].getMessage() == "closed a slow connection"
    assert tally.counts == {"header-timeout": 1001, "wrong-password 192.0.2.9": 1}
