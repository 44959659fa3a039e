"""A hypothesis state machine over the session manager (issue 7, item 9).

Random sequences of request (open, PIN-proven, needing approval), approve, deny, kick, block, end,
pause, resume and silence (idle timeout) run against a real box; after every step: places on
screen, waiting and queued senders stay within their bounds, nobody waits in the queue while a
place is free, and every session ends exactly once (one ``handler.stop``, one
``receiver_session_ended``), ended sessions are gone and requests that failed left nothing behind.
``SESSION_MACHINE_EXAMPLES=500`` runs longer (the figures of such a run are in docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from receiver_core import AuthDecision, SessionRejected, SessionRequest, hookimpl
from receiver_core.errors import AuthFailed, InvalidTransition
from receiver_core.session.state import SessionState
from receiver_core.testing import started_receiver

MAX_PRESENTERS, MAX_PENDING, MAX_QUEUED = 2, 2, 2
PEERS = [f"192.0.2.{i}" for i in range(1, 7)]
KINDS = ("open", "proven", "approval")


class Handler:
    def __init__(self) -> None:
        self.stops: list[str] = []
        self.silent = False

    def stop(self, reason: str) -> None:
        self.stops.append(reason)

    def last_activity(self) -> float:
        return -1e9 if self.silent else time.monotonic()


class Policy:
    """Authorization by the requested kind (the display name), and an ended-hook counter."""

    def __init__(self) -> None:
        self.ended: Counter[str] = Counter()

    @hookimpl
    def receiver_session_authorize(self, request: SessionRequest) -> AuthDecision | None:
        if request.display_name == "proven":
            return AuthDecision.allow()
        if request.display_name == "approval":
            return AuthDecision.challenge(approval=True)
        return None  # the built-in pin_auth: PIN off, no approval: let in unproven

    @hookimpl
    def receiver_session_ended(self, session: Any, reason: str) -> None:
        self.ended[session.id] += 1


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.policy = Policy()
        self.dir = Path(self.loop.run_until_complete(_tmpdir()))
        config = {"session": {"max_presenters": MAX_PRESENTERS, "max_pending": MAX_PENDING, "max_queued": MAX_QUEUED,
                              "max_pending_per_address": 1, "approval_timeout_seconds": 600},
                  "status": {"enabled": False}}
        self.cm = started_receiver(self.dir, config=config, plugins={"policy": self.policy})
        self.rx = self.loop.run_until_complete(self.cm.__aenter__())
        self.requests: list[tuple[asyncio.Task[Any], Handler]] = []
        self.seen: dict[str, tuple[Any, Handler]] = {}

    def teardown(self) -> None:
        try:
            self.loop.run_until_complete(self.cm.__aexit__(None, None, None))
            self.settle()
            self.check_single_end()
            for task, _handler in self.requests:
                assert task.done()
                if not task.cancelled():
                    task.exception()  # retrieved: refusals at shutdown are expected
        finally:
            self.loop.close()

    # ------------------------------------------------------------------------------------ helpers

    def settle(self) -> None:
        for _ in range(5):
            self.loop.run_until_complete(asyncio.sleep(0))
        for session in self.rx.sessions.all():
            self.seen.setdefault(session.id, (session, session.handler))

    def pick(self, data: st.DataObject, states: tuple[SessionState, ...]) -> Any | None:
        candidates = [s for s in self.rx.sessions.all() if s.state in states]
        return data.draw(st.sampled_from(candidates)) if candidates else None

    def run(self, coro: Any) -> None:
        try:
            self.loop.run_until_complete(coro)
        except (KeyError, ValueError, InvalidTransition):
            pass
        self.settle()

    # ------------------------------------------------------------------------------------ rules

    @rule(peer=st.sampled_from(PEERS), kind=st.sampled_from(KINDS))
    def request(self, peer: str, kind: str) -> None:
        handler = Handler()
        request = SessionRequest("test", peer, display_name=kind, idle_timeout=30)
        task = self.loop.create_task(self.rx.sessions.request(request, handler))
        self.requests.append((task, handler))
        self.settle()

    @rule(data=st.data(), approve=st.booleans())
    def decide(self, data: st.DataObject, approve: bool) -> None:
        session = self.pick(data, (SessionState.AWAITING_APPROVAL,))
        if session is not None:
            try:
                (self.rx.sessions.approve if approve else self.rx.sessions.deny)(session.id, "machine")
            except ValueError:
                pass
            self.settle()

    @rule(data=st.data())
    def kick(self, data: st.DataObject) -> None:
        session = self.pick(data, (SessionState.ACTIVE, SessionState.PAUSED, SessionState.QUEUED))
        if session is not None:
            self.run(self.rx.sessions.kick(session.id, "machine"))

    @rule(data=st.data(), duration=st.sampled_from([None, 0.01, 600.0]))
    def block(self, data: st.DataObject, duration: float | None) -> None:
        session = self.pick(data, tuple(s for s in SessionState if s is not SessionState.ENDED))
        if session is not None:
            self.run(self.rx.sessions.block(session.id, "machine", duration))

    @rule(data=st.data())
    def unblock(self, data: st.DataObject) -> None:
        blocks = self.rx.sessions.blocklist.all()
        if blocks:
            self.rx.sessions.unblock(data.draw(st.sampled_from(blocks)).identity, "machine")

    @rule(data=st.data())
    def end(self, data: st.DataObject) -> None:
        session = self.pick(data, tuple(s for s in SessionState if s is not SessionState.ENDED))
        if session is not None:
            self.run(self.rx.sessions.end(session, "machine"))

    @rule(data=st.data(), pause=st.booleans())
    def toggle(self, data: st.DataObject, pause: bool) -> None:
        session = self.pick(data, (SessionState.ACTIVE,) if pause else (SessionState.PAUSED,))
        if session is not None:
            (self.rx.sessions.pause if pause else self.rx.sessions.resume)(session.id, "machine")
            self.settle()

    @rule(data=st.data())
    def go_silent(self, data: st.DataObject) -> None:
        session = self.pick(data, tuple(s for s in SessionState if s is not SessionState.ENDED))
        if session is not None and isinstance(session.handler, Handler):
            session.handler.silent = True
            self.run(self.rx.sessions.end_silent())

    @precondition(lambda self: self.requests)
    @rule()
    def finished_requests_left_nothing_behind(self) -> None:
        for task, handler in self.requests:
            if task.done() and task.exception() is not None:
                assert isinstance(task.exception(), (SessionRejected, AuthFailed)), task.exception()
                assert all(s.handler is not handler for s in self.rx.sessions.all())

    # ------------------------------------------------------------------------------------ invariants

    @invariant()
    def bounds(self) -> None:
        sessions = self.rx.sessions
        on_screen = sessions.on_screen()
        waiting = [s for s in sessions.all() if s.state is SessionState.AWAITING_APPROVAL]
        assert len(on_screen) <= MAX_PRESENTERS
        assert len(waiting) <= MAX_PENDING
        assert len({s.peer for s in waiting}) == len(waiting)
        assert len(sessions.queued()) <= MAX_QUEUED
        if sessions.queued():
            assert len(on_screen) == MAX_PRESENTERS, "a sender queues while a place is free"

    @invariant()
    def check_single_end(self) -> None:
        live = {s.id for s in self.rx.sessions.all()}
        for session_id, (session, handler) in self.seen.items():
            assert self.policy.ended[session_id] <= 1
            if handler is not None:
                assert len(handler.stops) <= 1, handler.stops
            if session.state is SessionState.ENDED:
                assert session_id not in live
            else:
                assert session_id in live

    @invariant()
    def unproven_never_preempt(self) -> None:
        for session, _handler in self.seen.values():
            if session.end_reason == "preempted":
                assert self.rx.sessions.counters["started"] > 0


async def _tmpdir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="session-machine-")


TestSessionMachine = SessionMachine.TestCase
TestSessionMachine.pytestmark = [pytest.mark.timeout(900)]  # a box per example: slow on a busy 2-core machine
TestSessionMachine.settings = settings(max_examples=int(os.environ.get("SESSION_MACHINE_EXAMPLES", "15")), stateful_step_count=25, deadline=None,
                                       suppress_health_check=[HealthCheck.too_slow])
