"""Admission that cannot be jammed and sessions that end exactly once (issue 7, items 1 and 2).

Each test names the defect it pins down; every one failed on the core before the fix.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest

from receiver_core import SessionRejected, SessionRequest, hookimpl
from receiver_core.session.state import SessionState


class Sender:
    """A session handler that records how often the core stopped it and reports its last data."""

    def __init__(self) -> None:
        self.stops: list[str] = []
        self.last = time.monotonic()

    def stop(self, reason: str) -> None:
        self.stops.append(reason)

    def last_activity(self) -> float:
        return self.last

    def go_silent(self, seconds: float = 60.0) -> None:
        self.last = time.monotonic() - seconds


class EndCounter:
    """Counts ``receiver_session_ended`` per session id."""

    def __init__(self) -> None:
        self.ended: Counter[str] = Counter()

    @hookimpl
    def receiver_session_ended(self, session: Any, reason: str) -> None:
        self.ended[session.id] += 1


def req(peer: str, *, idle: float | None = None, pin: str | None = None, protocol: str = "test") -> SessionRequest:
    return SessionRequest(protocol, peer, display_name=peer, pin=pin, idle_timeout=idle)


async def waiting(rx: Any, count: int) -> list[Any]:
    for _ in range(200):
        found = [s for s in rx.sessions.all() if s.state is SessionState.AWAITING_APPROVAL]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} sessions waiting for approval never showed up")


APPROVAL = {"session": {"approval": True, "approval_timeout_seconds": 120}}


async def test_waiting_for_approval_is_bounded_per_protocol_and_never_takes_a_presenters_place(
        receiver_factory: Any) -> None:
    """Before: 8 spoofed senders all waited 120 s and held every place; now 4 wait at most per protocol."""
    async with receiver_factory(config={"session": {"approval": True, "max_presenters": 1}}) as rx:
        presenter_task = asyncio.ensure_future(rx.sessions.request(req("192.0.2.1")))
        (first,) = await waiting(rx, 1)
        rx.sessions.approve(first.id, "test")
        presenter = await presenter_task
        fakes = [asyncio.ensure_future(rx.sessions.request(req(f"198.51.100.{i}"))) for i in range(8)]
        await waiting(rx, 4)
        await asyncio.sleep(0.05)
        refused = [t for t in fakes if t.done()]
        assert len(refused) == 4
        for task in refused:
            with pytest.raises(SessionRejected, match="too many test senders are waiting"):
                task.result()
        assert presenter.visible and rx.sessions.on_screen() == [presenter]
        # another protocol has its own bound
        other = asyncio.ensure_future(rx.sessions.request(req("203.0.113.9", protocol="other")))
        await asyncio.sleep(0.05)
        assert not other.done()
        await rx.sessions.end_all("test over")
        await asyncio.gather(*fakes, other, return_exceptions=True)


async def test_one_address_waits_for_approval_once(receiver_factory: Any) -> None:
    async with receiver_factory(config=APPROVAL) as rx:
        first = asyncio.ensure_future(rx.sessions.request(req("192.0.2.7")))
        await waiting(rx, 1)
        with pytest.raises(SessionRejected, match="already has a sender waiting"):
            await rx.sessions.request(req("192.0.2.7"))
        await rx.sessions.end_all("test over")
        with pytest.raises(SessionRejected):
            await first


async def test_a_silent_sender_is_refused_while_it_waits_for_approval(receiver_factory: Any) -> None:
    """Before: a sender that sent one datagram held its approval place for approval_timeout (120 s)."""
    async with receiver_factory(config=APPROVAL) as rx:
        handler = Sender()
        started = time.monotonic()
        task = asyncio.ensure_future(rx.sessions.request(req("198.51.100.1", idle=0.5), handler))
        await waiting(rx, 1)
        handler.go_silent()
        with pytest.raises(SessionRejected, match="went silent"):
            await asyncio.wait_for(task, 5)
        assert time.monotonic() - started < 3
        assert rx.sessions.all() == [] and handler.stops == []  # refused, not started: nothing to stop


async def test_a_sender_that_keeps_sending_keeps_waiting(receiver_factory: Any) -> None:
    async with receiver_factory(config=APPROVAL) as rx:
        handler = Sender()
        task = asyncio.ensure_future(rx.sessions.request(req("198.51.100.2", idle=0.3), handler))
        (session,) = await waiting(rx, 1)
        for _ in range(10):
            handler.last = time.monotonic()
            await asyncio.sleep(0.1)
        assert session.state is SessionState.AWAITING_APPROVAL
        rx.sessions.approve(session.id, "test")
        assert (await task).visible and (await task).authorized


@pytest.mark.parametrize("state", ["active", "paused", "queued"])
async def test_silence_ends_a_session_in_every_state_exactly_once(receiver_factory: Any, state: str) -> None:
    """Before: only the plugin watched for silence, and only on screen; queued or paused senders stayed for good."""
    counter = EndCounter()
    config = {"session": {"max_presenters": 1, "admission": "queue"}}
    async with receiver_factory(config=config, plugins={"counter": counter}) as rx:
        blocker = await rx.sessions.request(req("192.0.2.1"))
        if state != "queued":
            await rx.sessions.end(blocker)
        handler = Sender()
        session = await rx.sessions.request(req("192.0.2.2", idle=0.3), handler)
        if state == "paused":
            rx.sessions.pause(session.id, "test")
        assert session.state.value == state
        handler.go_silent()
        await asyncio.wait_for(session.wait_state(SessionState.ENDED), 5)
        await asyncio.sleep(0.6)  # the watchdog keeps running: no second end
        assert session.end_reason is not None and session.end_reason.startswith("the sender went silent")
        assert handler.stops == [session.end_reason]
        assert counter.ended[session.id] == 1
        assert session not in rx.sessions.all()


async def test_ending_twice_from_everywhere_ends_once(receiver_factory: Any) -> None:
    counter = EndCounter()
    async with receiver_factory(plugins={"counter": counter}) as rx:
        handler = Sender()
        session = await rx.sessions.request(req("192.0.2.3"), handler)
        await asyncio.gather(rx.sessions.end(session, "one"), rx.sessions.end(session, "two"),
                             rx.sessions.kick(session.id, "test"), return_exceptions=True)
        await rx.sessions.end(session, "three", notify=False)
        assert handler.stops == ["one"] and counter.ended[session.id] == 1
        assert rx.sessions.counters["ended"] == 1


async def test_ending_a_session_that_waits_for_approval_refuses_it_once(receiver_factory: Any) -> None:
    """Before: end() moved a waiting session to ENDED but its request() waited for the approval timeout."""
    async with receiver_factory(config=APPROVAL) as rx:
        handler = Sender()
        task = asyncio.ensure_future(rx.sessions.request(req("192.0.2.4"), handler))
        (session,) = await waiting(rx, 1)
        await rx.sessions.end(session, "the plugin went away")
        await rx.sessions.end(session, "again")
        with pytest.raises(SessionRejected, match="the plugin went away"):
            await asyncio.wait_for(task, 2)
        assert handler.stops == ["the plugin went away"] and rx.sessions.all() == []


async def test_the_queue_is_bounded(receiver_factory: Any) -> None:
    config = {"session": {"max_presenters": 1, "admission": "queue", "max_queued": 2}}
    async with receiver_factory(config=config) as rx:
        await rx.sessions.request(req("192.0.2.1"))
        await rx.sessions.request(req("192.0.2.2"))
        await rx.sessions.request(req("192.0.2.3"))
        with pytest.raises(SessionRejected, match="so is its queue"):
            await rx.sessions.request(req("192.0.2.4"))
        assert [s.state.value for s in rx.sessions.all()] == ["active", "queued", "queued"]


async def test_a_plugin_that_vouches_for_a_sender_lets_it_win(receiver_factory: Any) -> None:
    from receiver_core import AuthDecision

    class Vouch:
        @hookimpl
        def receiver_session_authorize(self, request: SessionRequest) -> AuthDecision | None:
            return AuthDecision.allow() if request.peer_address == "192.0.2.50" else None

    async with receiver_factory(config={"session": {"max_presenters": 1}}, plugins={"vouch": Vouch()}) as rx:
        first = await rx.sessions.request(req("192.0.2.1"))
        vouched = await rx.sessions.request(req("192.0.2.50"))
        assert vouched.visible and vouched.authorized and first.end_reason == "preempted"


def test_idle_timeout_must_be_positive_and_finite() -> None:
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="idle_timeout"):
            SessionRequest("test", "192.0.2.1", idle_timeout=bad)
    assert SessionRequest("test", "192.0.2.1", idle_timeout=2).idle_timeout == 2


async def test_sender_names_are_made_safe_to_show(receiver_factory: Any) -> None:
    async with receiver_factory() as rx:
        session = await rx.sessions.request(SessionRequest("test", "192.0.2.1", display_name="evil\u202eexe.txt\x7f\u2028x"))
        assert session.name == "evil\ufffdexe.txt\ufffd\ufffdx"


async def test_a_preempting_sender_gets_the_place_it_freed_not_the_queue(receiver_factory: Any) -> None:
    """Found by the state machine: ending the victim promoted a queued sender first, 3 on a 2-place screen."""
    from receiver_core import AuthDecision

    class Vouch:
        @hookimpl
        def receiver_session_authorize(self, request: SessionRequest) -> AuthDecision | None:
            return AuthDecision.allow() if request.peer_address == "192.0.2.50" else None

    async with receiver_factory(config={"session": {"max_presenters": 2}}, plugins={"vouch": Vouch()}) as rx:
        for i in range(1, 5):
            await rx.sessions.request(req(f"192.0.2.{i}"))  # two on screen, two queued (unproven)
        vouched = await rx.sessions.request(req("192.0.2.50"))
        assert len(rx.sessions.on_screen()) == 2 and vouched.visible
        assert len(rx.sessions.queued()) == 2


async def test_media_cannot_be_attached_to_an_ended_session(receiver_factory: Any) -> None:
    """Found by the soak run: a sender kicked while its demuxer looked for streams attached media to
    the ended session afterwards; nobody stopped that link, and its decode thread leaked."""
    import threading

    from receiver_core import MediaCaps, QueueSource
    from receiver_core.errors import MediaError

    async with receiver_factory() as rx:
        session = await rx.sessions.request(req("192.0.2.9"))
        await rx.sessions.kick(session.id, "test")
        with pytest.raises(MediaError, match="has ended"):
            await rx.media.attach(session, QueueSource(MediaCaps.video("h264", width=320, height=240)))
        assert not [t for t in threading.enumerate() if t.name.startswith(f"decode:{session.id}")]
