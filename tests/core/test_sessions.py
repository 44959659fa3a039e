"""Sessions: the state table, the PIN (constant time, lockout, rotation), meeting IDs, admission,
approval and moderation."""

from __future__ import annotations

import asyncio
import hmac
import json
import stat
import time
from typing import Any

import attrs
import pytest

from receiver_core import AuthFailed, PinRequired, SessionRejected, SessionRequest
from receiver_core.errors import InvalidTransition
from receiver_core.session.pin import FailureLimiter, PinGate
from receiver_core.session.state import TRANSITIONS, Event, SessionState, next_state
from receiver_core.testing import FakeClock


def req(peer: str = "192.0.2.20", name: str = "Alice", **kw: Any) -> SessionRequest:
    return SessionRequest("test", peer, name, **kw)


# ----------------------------------------------------------------------------------- state table


def test_state_table_allows_only_listed_transitions() -> None:
    for state in SessionState:
        for event in Event:
            if (state, event) in TRANSITIONS:
                assert next_state(state, event) is TRANSITIONS[(state, event)]
            else:
                with pytest.raises(InvalidTransition):
                    next_state(state, event)
    assert all(next_state(s, Event.END) is SessionState.ENDED for s in SessionState if s is not SessionState.ENDED)


# ------------------------------------------------------------------------------------------ PIN


def test_pin_rotates_and_is_never_in_a_repr() -> None:
    changes: list[None] = []
    gate = PinGate("rotating", length=6, on_change=lambda: changes.append(None))
    first = gate.current()
    assert first is not None and len(first) == 6 and first.isdigit()
    gate.rotate()
    assert gate.current() != first and len(changes) == 2
    assert first not in repr(gate) and gate.current() not in repr(gate)
    assert PinGate("off").current() is None and PinGate("fixed", fixed="2468").current() == "2468"


def test_pin_setting_changes_at_run_time_and_keeps_lockouts() -> None:
    changes: list[None] = []
    clock = FakeClock()
    gate = PinGate("off", clock=clock, on_change=lambda: changes.append(None))
    gate.configure("fixed", fixed="2468")
    assert gate.required and gate.current() == "2468" and len(changes) == 1
    for _ in range(5):
        with pytest.raises(AuthFailed):
            gate.verify("addr:192.0.2.1", "0000")
    gate.configure("fixed", fixed="2468")  # nothing changed: nobody is told
    assert len(changes) == 1
    gate.configure("rotating", length=6)
    rotating = gate.current()
    assert rotating is not None and len(rotating) == 6 and len(changes) == 2
    with pytest.raises(AuthFailed, match="too many"):  # a reload is no way around a lockout
        gate.verify("addr:192.0.2.1", rotating)
    gate.configure("rotating", length=6)
    assert gate.current() == rotating and len(changes) == 2  # a valid rotating PIN stays on screen
    gate.configure("off")
    assert not gate.required and gate.current() is None and len(changes) == 3
    gate.verify("addr:192.0.2.9", None)


async def test_reload_applies_the_pin_setting_without_a_restart(receiver_factory: Any, tmp_path: Any) -> None:
    path = tmp_path / "receiver.toml"
    path.write_text('[session]\npin_mode = "off"\n')
    async with receiver_factory(config={"session": {"pin_mode": "off"}}) as rx:
        rx.config = attrs.evolve(rx.config, source=str(path))
        recorded: list[tuple[str, dict[str, Any]]] = []
        rx.sessions.audit.record = lambda action, actor, **details: recorded.append((action, details)) or True
        path.write_text('[session]\npin_mode = "fixed"\npin = "2468"\nmax_presenters = 2\n')
        await rx.reload()
        assert rx.sessions.pin.required and rx.sessions.pin.current() == "2468"
        assert rx.status()["pin_mode"] == "fixed" and rx.config.session.max_presenters == 4  # that one needs a restart
        assert recorded == [("pin-setting", {"mode": "fixed"})]  # audited, never the PIN


def test_pin_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("receiver_core.session.pin.hmac.compare_digest", spy)
    gate = PinGate("fixed", fixed="2468")
    gate.verify("addr:x", "2468")
    with pytest.raises(AuthFailed):
        gate.verify("addr:x", "1357")
    assert calls == [(b"2468", b"2468"), (b"1357", b"2468")]


def test_five_wrong_pins_lock_a_peer_out_for_a_minute() -> None:
    clock = FakeClock()
    gate = PinGate("fixed", fixed="2468", clock=clock)
    for _ in range(4):
        with pytest.raises(AuthFailed, match="wrong PIN"):
            gate.verify("addr:192.0.2.1", "0000")
    with pytest.raises(AuthFailed, match="too many wrong PINs") as info:
        gate.verify("addr:192.0.2.1", "0000")
    assert info.value.retry_after == 60
    with pytest.raises(AuthFailed, match="too many"):
        gate.verify("addr:192.0.2.1", "2468")  # even the right PIN, while locked
    gate.verify("addr:192.0.2.2", "2468")  # other peers are not affected
    clock.advance(61)
    gate.verify("addr:192.0.2.1", "2468")
    with pytest.raises(PinRequired):
        gate.verify("addr:192.0.2.1", None)


def test_failure_limiter_resets_on_success() -> None:
    limiter = FailureLimiter(3, 10, FakeClock())
    limiter.failure("k")
    limiter.failure("k")
    limiter.success("k")
    assert limiter.failure("k") == 0 and limiter.retry_after("k") == 0


async def test_pin_flow_through_the_manager(receiver_factory: Any) -> None:
    async with receiver_factory(config={"session": {"pin_mode": "rotating", "pin_rotate_after_session": True}}) as rx:
        pin = rx.sessions.pin.current()
        with pytest.raises(PinRequired):
            await rx.sessions.request(req())
        with pytest.raises(AuthFailed):
            await rx.sessions.request(req(pin="9" * 4 if pin != "9999" else "1111"))
        session = await rx.sessions.request(req(pin=pin))
        await rx.sessions.end(session)
        assert rx.sessions.pin.current() != pin  # rotated after the session
        assert rx.status()["sessions"] == []


async def test_protocol_verified_pin_and_timer_rotation(receiver_factory: Any) -> None:
    async with receiver_factory(config={"session": {"pin_mode": "rotating"}}) as rx:
        # a protocol that checks the PIN in its own handshake (SRP) reports the attempt
        with pytest.raises(AuthFailed):
            rx.sessions.pin.report("id:device-1", ok=False)
        session = await rx.sessions.request(req(client_id="device-1", pin_verified=True))
        assert session.visible


# ----------------------------------------------------------------------------------- meeting ID


async def test_meeting_id_changes_when_the_room_goes_idle(receiver_factory: Any) -> None:
    async with receiver_factory() as rx:
        first = rx.sessions.meeting.current
        a = await rx.sessions.request(req())
        b = await rx.sessions.request(req(peer="192.0.2.21", name="Bob"))
        await rx.sessions.end(a)
        assert rx.sessions.meeting.current == first  # still a meeting going on
        await rx.sessions.end(b)
        assert rx.sessions.meeting.current != first
        assert rx.sessions.meeting.matches(rx.sessions.meeting.current)
        assert not rx.sessions.meeting.matches(first)


async def test_wrong_meeting_id_is_denied(receiver_factory: Any) -> None:
    async with receiver_factory() as rx:
        with pytest.raises(SessionRejected, match="wrong meeting ID"):
            await rx.sessions.request(req(meeting_id="000000" if rx.sessions.meeting.current != "000000" else "1"))
        assert (await rx.sessions.request(req(meeting_id=rx.sessions.meeting.current))).visible


# ------------------------------------------------------------------------------------ admission


async def test_newest_wins_preempts_the_oldest(receiver_factory: Any) -> None:
    stopped: list[str] = []

    class Handler:
        def __init__(self, name: str) -> None:
            self.name = name

        async def stop(self, reason: str) -> None:
            stopped.append(f"{self.name}:{reason}")

    async with receiver_factory(config={"session": {"max_presenters": 2, "pin_mode": "fixed", "pin": "2468"}}) as rx:
        s1 = await rx.sessions.request(req(name="one", pin="2468"), Handler("one"))
        await rx.sessions.request(req(name="two", pin="2468"), Handler("two"))
        await rx.sessions.request(req(name="three", pin="2468"), Handler("three"))
        assert stopped == ["one:preempted"] and s1.end_reason == "preempted"
        assert [s.name for s in rx.sessions.on_screen()] == ["two", "three"]


async def test_newest_wins_only_for_senders_that_proved_something(receiver_factory: Any) -> None:
    """PIN off and no approval: a newcomer proved nothing, so it queues instead of pushing a presenter off."""
    async with receiver_factory(config={"session": {"max_presenters": 1}}) as rx:
        presenter = await rx.sessions.request(req(name="presenter"))
        newcomer = await rx.sessions.request(req(peer="192.0.2.66", name="newcomer"))
        assert presenter.visible and not presenter.authorized
        assert newcomer.state is SessionState.QUEUED
        await rx.sessions.end(presenter)
        assert newcomer.visible


async def test_queue_policy_promotes_when_a_slot_frees(receiver_factory: Any) -> None:
    async with receiver_factory(config={"session": {"max_presenters": 1, "admission": "queue"}}) as rx:
        first = await rx.sessions.request(req(name="first"))
        waiting = await rx.sessions.request(req(name="second"))
        assert waiting.state is SessionState.QUEUED and not waiting.visible
        await rx.sessions.end(first)
        assert waiting.state is SessionState.ACTIVE


# ------------------------------------------------------------------------------------ approval


async def test_approval_approve_deny_timeout(receiver_factory: Any) -> None:
    async with receiver_factory(config={"session": {"approval": True, "approval_timeout_seconds": 5}}) as rx:
        pending = asyncio.ensure_future(rx.sessions.request(req(name="asks")))
        await asyncio.sleep(0.05)
        (waiting,) = rx.sessions.all()
        assert waiting.state is SessionState.AWAITING_APPROVAL
        rx.sessions.approve(waiting.id, "test")
        assert (await pending).visible

        pending = asyncio.ensure_future(rx.sessions.request(req(peer="192.0.2.30", name="denied")))
        await asyncio.sleep(0.05)
        waiting = next(s for s in rx.sessions.all() if s.name == "denied")
        rx.sessions.deny(waiting.id, "test")
        with pytest.raises(SessionRejected, match="declined"):
            await pending
        with pytest.raises(ValueError):
            rx.sessions.approve(rx.sessions.on_screen()[0].id, "test")  # not waiting

    async with receiver_factory(config={"session": {"approval": True, "approval_timeout_seconds": 1}}) as rx:
        with pytest.raises(SessionRejected, match="in time"):
            await rx.sessions.request(req())
        assert rx.sessions.all() == []


# ---------------------------------------------------------------------------------- moderation


async def test_kick_block_and_blocklist_persistence(receiver_factory: Any) -> None:
    async with receiver_factory() as rx:
        s = await rx.sessions.request(req(client_id="phone-1"))
        await rx.sessions.kick(s.id, "test")
        again = await rx.sessions.request(req(client_id="phone-1"))  # kicked, not banned
        await rx.sessions.block(again.id, "test", duration=None)
        with pytest.raises(SessionRejected, match="blocked"):
            await rx.sessions.request(req(client_id="phone-1", peer="198.51.100.7"))  # by identity, any address
        assert (await rx.sessions.request(req(peer="192.0.2.20", name="other"))).visible  # same address, no id
        path = rx.state_dir / "blocklist.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert "phone-1" in path.read_text()
        state_dir = rx.state_dir
    async with receiver_factory(config={"receiver": {"state_dir": str(state_dir)}}) as rx:
        with pytest.raises(SessionRejected):
            await rx.sessions.request(req(client_id="phone-1"))  # survives a restart
        assert rx.sessions.blocklist.remove("id:phone-1")
        assert (await rx.sessions.request(req(client_id="phone-1"))).visible


async def test_timed_block_by_address(receiver_factory: Any) -> None:
    async with receiver_factory() as rx:
        s = await rx.sessions.request(req(peer="192.0.2.99"))
        await rx.sessions.block(s.id, "test", duration=0.2)
        with pytest.raises(SessionRejected):
            await rx.sessions.request(req(peer="192.0.2.99"))
        saved = json.loads((rx.state_dir / "blocklist.json").read_text())  # timed blocks survive a restart too
        assert saved[0]["identity"] == "addr:192.0.2.99" and saved[0]["until"] > time.time()
        await asyncio.sleep(0.25)
        assert (await rx.sessions.request(req(peer="192.0.2.99"))).visible


async def test_pause_hides_and_resume_shows(receiver_factory: Any) -> None:
    async with receiver_factory() as rx:
        a = await rx.sessions.request(req(name="a"))
        b = await rx.sessions.request(req(peer="192.0.2.21", name="b"))
        assert len(rx.display.layout.tiles) == 2
        rx.sessions.pause(a.id, "test")
        assert [t.session_id for t in rx.display.layout.tiles] == [b.id]
        with pytest.raises(InvalidTransition):
            rx.sessions.pause(a.id, "test")
        rx.sessions.resume(a.id, "test")
        assert len(rx.display.layout.tiles) == 2
