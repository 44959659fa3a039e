"""One ``SessionManager`` for every protocol: request -> authorize -> admit -> run -> end.

Mechanism only: who may present and who is on screen are decided by the authorize and admit
hooks (built-ins ``pin_auth`` and ``admission``), with fail-closed and built-in fallbacks here.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from ..aio import Signal
from ..config.schema import unsafe_text
from ..errors import HookFailed, SessionRejected
from ..model import Admission, AdmissionVerdict, AuthDecision, AuthVerdict, SessionRequest, StreamRole
from .audit import AuditLog
from .blocklist import BlockList, StateWriteError, check_duration
from .meeting import MeetingIds
from .pin import PinGate
from .state import Event, SessionState, next_state

if TYPE_CHECKING:
    from ..box import Box

__all__ = ["SessionHandler", "Session", "SessionManager", "default_admission"]

log = logging.getLogger(__name__)


def printable_name(text: str, limit: int = 64) -> str:
    """``text`` with every character ``unsafe_text`` refuses replaced by U+FFFD, cut to ``limit``."""
    return "".join("\ufffd" if unsafe_text(c) else c for c in text[:limit]).strip()


class SessionHandler(Protocol):
    """What a protocol plugin gives the core so the core can end its session (kick, preempt, shutdown)."""

    def stop(self, reason: str) -> Awaitable[None] | None:
        """Tear the protocol side down (send a teardown, close the connection). May await."""


@attrs.define(eq=False)
class Session:
    """A sender's presentation, from request to end. Owned by the manager; plugins read it."""

    id: str
    request: SessionRequest
    state: SessionState = SessionState.REQUESTED
    handler: SessionHandler | None = None
    created: float = attrs.field(factory=time.monotonic)
    started: float | None = None
    ended: float | None = None
    end_reason: str | None = None
    volume: float = 1.0
    media: Any = None  # media.engine.SessionMedia, attached by the core
    #: Passed a PIN, an approval or a plugin's explicit allow: only such a sender pushes a presenter off.
    authorized: bool = False
    _approval: asyncio.Future[bool] | None = attrs.field(default=None, repr=False)
    _ending: bool = attrs.field(default=False, repr=False)
    _state_changed: asyncio.Event = attrs.field(factory=asyncio.Event, repr=False)

    @property
    def protocol(self) -> str:
        return self.request.protocol

    @property
    def peer(self) -> str:
        return self.request.peer_address

    @property
    def name(self) -> str:
        """The sender's name as shown and logged: unsafe characters (controls, bidi) replaced, 64 at most."""
        return printable_name(self.request.display_name) or self.request.peer_address

    @property
    def visible(self) -> bool:
        return self.state is SessionState.ACTIVE

    @property
    def video_streams(self) -> tuple[StreamRole, ...]:
        """What the session shows (``StreamRole`` of each attached video stream, main first):
        a layout policy places a ``CAMERA`` as an inset or a tile of its own."""
        return tuple(self.media.video_roles()) if self.media is not None else ()

    def last_activity(self) -> float:
        """Monotonic time of the sender's last sign of life (see ``SessionRequest.idle_timeout``).

        Once media is attached only media counts (a sender that keeps sending garbage is silent);
        before that, the handler's ``last_activity()`` when it has one, else the request time.
        """
        if self.media is not None and self.media.links:
            return max(self.created, float(self.media.last_packet()))
        probe = getattr(self.handler, "last_activity", None)
        if callable(probe):
            try:
                return max(self.created, float(probe()))
            except Exception:  # a broken probe must not keep a session alive
                return self.created
        return self.created

    def set_volume(self, volume: float) -> None:
        """Per-session volume 0.0..1.0 (AirPlay sets it from the sender)."""
        self.volume = min(1.0, max(0.0, float(volume)))

    async def wait_state(self, *states: SessionState, timeout: float | None = None) -> SessionState:
        """Wait until the session is in one of ``states`` (or ended)."""
        async def waiter() -> SessionState:
            while self.state not in states and self.state is not SessionState.ENDED:
                self._state_changed.clear()
                await self._state_changed.wait()
            return self.state
        return await asyncio.wait_for(waiter(), timeout)

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        out: dict[str, Any] = {
            "id": self.id,
            "protocol": self.protocol,
            "peer": self.peer,
            "name": self.name,
            "client_id": self.request.client_id,
            "state": self.state.value,
            "age_s": round(now - self.created, 1),
            "on_screen_s": round(now - self.started, 1) if self.started else None,
            "volume": self.volume,
            "authorized": self.authorized,
        }
        if self.end_reason is not None:
            out["end_reason"] = self.end_reason
        if self.media is not None:
            out["media"] = self.media.status()
        return out


def default_admission(max_presenters: int, policy: str, session: Session, active: list[Session]) -> Admission:
    """Built-in policy: start while there is room; when full, newest wins or the newcomer queues."""
    if len(active) < max_presenters:
        return Admission.start()
    if policy == "queue":
        return Admission.queue()
    overflow = len(active) - max_presenters + 1
    return Admission.preempt(*(s.id for s in active[:overflow]))


class SessionManager:
    """Sessions of every protocol, the box PIN, the meeting ID and the block list."""

    def __init__(self, receiver: Box, *, state_dir: Path | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._receiver = receiver
        cfg = receiver.config.session
        self.config = cfg
        self.changed = Signal("sessions.changed")
        self.pin = PinGate(
            cfg.pin_mode,
            fixed=cfg.pin,
            length=cfg.pin_length,
            max_failures=cfg.pin_max_failures,
            lockout=float(cfg.pin_lockout_seconds),
            clock=clock,
            on_change=lambda: self.changed.emit("pin"),
        )
        self.meeting = MeetingIds(self._issue_meeting_id, on_change=lambda: self.changed.emit("meeting"))
        self.blocklist = BlockList(state_dir / "blocklist.json" if state_dir else None)
        self.audit = AuditLog(state_dir / "audit.log" if state_dir else None)
        self._sessions: dict[str, Session] = {}
        self.counters = {"requested": 0, "rejected": 0, "started": 0, "ended": 0, "went_silent": 0}
        self._reserved = 0  # places freed by preemption, held for the sender that preempted

    # ------------------------------------------------------------------------------------ watchdog

    async def watch(self, interval: float = 0.25) -> None:
        """Run by the core for the box's lifetime: end every session silent for its ``idle_timeout``."""
        while True:
            await asyncio.sleep(interval)
            await self.end_silent()

    async def end_silent(self) -> None:
        """End (or refuse, if still waiting) every session whose sender has been silent too long."""
        now = time.monotonic()
        for session in list(self._sessions.values()):
            timeout = session.request.idle_timeout
            if timeout is None or session.state is SessionState.ENDED:
                continue
            silent = now - session.last_activity()
            if silent <= timeout:
                continue
            self.counters["went_silent"] += 1
            reason = f"the sender went silent ({silent:.1f} s without data)"
            if session.state is SessionState.AWAITING_APPROVAL:
                self._refuse_waiting(session, reason)
            elif session.state in (SessionState.QUEUED, SessionState.ACTIVE, SessionState.PAUSED):
                await self.end(session, reason)

    # ------------------------------------------------------------------------------------ queries

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def all(self) -> list[Session]:
        return sorted(self._sessions.values(), key=lambda s: s.created)

    def on_screen(self) -> list[Session]:
        """Active and paused sessions, oldest start first."""
        return sorted((s for s in self._sessions.values() if s.state.on_screen), key=lambda s: s.started or 0)

    def visible(self) -> list[Session]:
        return [s for s in self.on_screen() if s.visible]

    def queued(self) -> list[Session]:
        return [s for s in self.all() if s.state is SessionState.QUEUED]

    @property
    def idle(self) -> bool:
        return not self._sessions

    # ------------------------------------------------------------------------------------ request

    async def request(self, request: SessionRequest, handler: SessionHandler | None = None) -> Session:
        """Run the admission flow; returns the session once it is active or queued.

        Raises ``SessionRejected`` (blocked, denied, too many waiting, not approved in time, went
        silent, admission refused), ``PinRequired`` (prompt and ask again) or ``AuthFailed``
        (wrong PIN, locked out).
        """
        self.counters["requested"] += 1
        block = self.blocklist.blocked(request.identity, f"addr:{request.peer_address}")
        if block is not None:
            self.counters["rejected"] += 1
            raise SessionRejected("this sender is blocked on this screen")
        session = Session(id="s-" + secrets.token_hex(4), request=request, handler=handler)
        self._sessions[session.id] = session
        try:
            decision = self._authorize(request)
            if decision.verdict is AuthVerdict.DENY:
                raise SessionRejected(decision.reason or "not allowed")
            authorized = decision.verdict is AuthVerdict.ALLOW and decision.proven
            if decision.pin and not request.pin_verified:
                self.pin.verify(request.identity, request.pin)
            if request.pin_verified or (decision.pin and self.pin.required):
                authorized = True  # the right PIN, checked just now or by the protocol's own handshake
            if decision.approval:
                self._check_room_to_wait(session)
                self._move(session, Event.NEED_APPROVAL)
                await self._wait_for_approval(session)
                self._move(session, Event.APPROVE)
                authorized = True
            else:
                self._move(session, Event.ALLOW)
            session.authorized = authorized
            await self._admit(session)
        except BaseException as exc:
            self.counters["rejected"] += 1
            self._discard(session, f"refused: {exc}" if isinstance(exc, Exception) else "cancelled")
            raise
        return session

    def _check_room_to_wait(self, session: Session) -> None:
        """Waiting for approval is bounded per protocol and per address; presenters are never touched."""
        waiting = [s for s in self._sessions.values() if s.state is SessionState.AWAITING_APPROVAL]
        same_protocol = [s for s in waiting if s.protocol == session.protocol]
        if len(same_protocol) >= self.config.max_pending:
            raise SessionRejected(f"too many {session.protocol} senders are waiting for approval")
        same_address = [s for s in waiting if s.peer == session.peer]
        if len(same_address) >= self.config.max_pending_per_address:
            raise SessionRejected("this address already has a sender waiting for approval")

    def _authorize(self, request: SessionRequest) -> AuthDecision:
        try:
            answer = self._receiver.plugins.call_first("receiver_session_authorize", request=request)
        except HookFailed as exc:
            log.error("authorization failed closed: %s", exc)
            return AuthDecision.deny("the receiver could not check this request")
        if answer is None:
            log.error("no plugin answered receiver_session_authorize: denying")
            return AuthDecision.deny("the receiver has no authorization policy")
        decision: AuthDecision = answer[1]  # the plugin host checked the type
        return decision

    async def _wait_for_approval(self, session: Session) -> None:
        session._approval = asyncio.get_running_loop().create_future()
        self.changed.emit("approval")
        try:
            approved = await asyncio.wait_for(session._approval, self.config.approval_timeout_seconds)
        except TimeoutError:
            raise SessionRejected("no moderator approved the request in time") from None
        if not approved:
            raise SessionRejected("a moderator declined the request")
        if session.state is not SessionState.AWAITING_APPROVAL:
            raise SessionRejected(session.end_reason or "the request was withdrawn")

    def _refuse_waiting(self, session: Session, reason: str) -> None:
        """Make ``request()`` of a session waiting for approval raise ``SessionRejected(reason)``."""
        if session._approval is not None and not session._approval.done():
            session._approval.set_exception(SessionRejected(reason))

    async def _admit(self, session: Session) -> None:
        active = self.on_screen()
        admission: Admission | None = None
        try:
            answer = self._receiver.plugins.call_first("receiver_session_admit", session=session, active=active)
            if answer is not None:
                admission = answer[1]
        except HookFailed as exc:
            log.error("admission hook failed, using the built-in policy: %s", exc)
        if admission is None:
            admission = default_admission(self.config.max_presenters, self.config.admission, session, active)
        if admission.verdict is AdmissionVerdict.PREEMPT and not session.authorized:
            admission = Admission.queue()  # an unproven sender never pushes a presenter off
        if admission.verdict is AdmissionVerdict.REJECT:
            raise SessionRejected(admission.reason or "the screen is full")
        if admission.verdict is AdmissionVerdict.QUEUE:
            if len(self.queued()) >= self.config.max_queued:
                raise SessionRejected("the screen is full and so is its queue")
            self._move(session, Event.QUEUE)
            self.changed.emit("queued")
            return
        self._reserved += 1  # the places the victims free are the newcomer's, not the queue's
        try:
            for victim_id in admission.victims:
                victim = self._sessions.get(victim_id)
                if victim is not None and victim is not session:
                    await self.end(victim, "preempted")
            if session.state is not SessionState.ADMITTING:
                raise SessionRejected(session.end_reason or "the request was withdrawn")
            if len(self.on_screen()) >= self.config.max_presenters:
                raise SessionRejected("the screen is full")  # a victim would not leave: never go over
        finally:
            self._reserved -= 1
        await self._start(session)

    async def _start(self, session: Session) -> None:
        self._move(session, Event.START if session.state is SessionState.ADMITTING else Event.PROMOTE)
        session.started = time.monotonic()
        self.counters["started"] += 1
        log.info("session %s (%s from %s) on screen", session.id, session.protocol, session.peer)
        self.changed.emit("started")
        await self._receiver.plugins.acall_each("receiver_session_started", session=session)

    # ------------------------------------------------------------------------------------ end

    async def end(self, session: Session, reason: str = "normal", *, notify: bool = True) -> None:
        """End a session, exactly once whatever calls it and however often.

        ``notify=False`` when the protocol itself is ending it (no ``handler.stop``). A session still
        being requested (authorizing, waiting for approval, being admitted) is refused instead: its
        ``request()`` raises ``SessionRejected(reason)``.
        """
        if session.state is SessionState.ENDED or session.id not in self._sessions or session._ending:
            return
        session._ending = True
        if session.state in (SessionState.REQUESTED, SessionState.AWAITING_APPROVAL, SessionState.ADMITTING):
            session.end_reason = reason
            self._refuse_waiting(session, reason)
            if session.state is not SessionState.AWAITING_APPROVAL:
                self._discard(session, reason)
            if notify:
                await self._stop_handler(session, reason)
            return
        was_on_screen = session.state.on_screen or session.state is SessionState.QUEUED
        self._move(session, Event.END)
        session.end_reason = reason
        session.ended = time.monotonic()
        del self._sessions[session.id]
        self.counters["ended"] += 1
        log.info("session %s ended: %s", session.id, reason)
        if notify:
            await self._stop_handler(session, reason)
        if session.media is not None:
            await session.media.close()
        if was_on_screen:
            await self._receiver.plugins.acall_each("receiver_session_ended", session=session, reason=reason)
        await self._after_end()

    async def _stop_handler(self, session: Session, reason: str) -> None:
        if session.handler is None:
            return
        try:
            result = session.handler.stop(reason)
            if result is not None:
                await asyncio.wait_for(result, 5.0)
        except Exception:
            log.exception("protocol handler of session %s failed to stop", session.id)

    def _discard(self, session: Session, reason: str) -> None:
        if session.state is not SessionState.ENDED:
            session.state = SessionState.ENDED
            session.end_reason = reason
            session._state_changed.set()
        self._sessions.pop(session.id, None)
        self.changed.emit("discarded")

    async def _after_end(self) -> None:
        if self.config.pin_rotate_after_session:
            self.pin.rotate()
        room = self.config.max_presenters - len(self.on_screen()) - self._reserved
        for waiting in self.queued()[:max(0, room)]:
            if waiting.state is SessionState.QUEUED:  # an earlier start's hooks may have ended it
                await self._start(waiting)
        if self.idle:
            self.meeting.regenerate()
        self.changed.emit("ended")

    async def end_all(self, reason: str) -> None:
        for session in list(self._sessions.values()):
            await self.end(session, reason)

    # ------------------------------------------------------------------------------------ moderation

    def _find(self, session_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise KeyError(session_id)
        return session

    def _observe(self, session: Session, action: str, actor: str, **details: Any) -> None:
        log.info("moderation: %s %s by %s", action, session.id, actor)
        self.audit.record(action, actor, session=session.id, protocol=session.protocol, peer=session.peer,
                          name=session.name, identity=session.request.identity, **details)
        self._receiver.plugins.call_each("receiver_moderation_action", session=session,
                                         action=action, actor=actor)

    def record(self, action: str, actor: str, **details: Any) -> bool:
        """Audit an admin change that concerns no session (rename, ...); False if it could not be written."""
        log.info("admin: %s by %s", action, actor)
        return self.audit.record(action, actor, **details)

    def approve(self, session_id: str, actor: str) -> Session:
        """Let a sender waiting for approval in."""
        return self._decide(session_id, True, actor)

    def deny(self, session_id: str, actor: str) -> Session:
        """Turn a sender waiting for approval away."""
        return self._decide(session_id, False, actor)

    def _decide(self, session_id: str, approved: bool, actor: str) -> Session:
        session = self._find(session_id)
        if session.state is not SessionState.AWAITING_APPROVAL or session._approval is None:
            raise ValueError(f"session {session_id} is not waiting for approval")
        if not session._approval.done():
            session._approval.set_result(approved)
        self._observe(session, "approve" if approved else "deny", actor)
        return session

    async def kick(self, session_id: str, actor: str) -> Session:
        """Remove for now: the sender may come back."""
        session = self._find(session_id)
        self._observe(session, "kick", actor)
        await self.end(session, "kicked")
        return session

    async def block(self, session_id: str, actor: str, duration: float | None) -> Session:
        """Remove and refuse this sender for ``duration`` seconds, or for good (``None``).

        Raises ``ValueError`` for a duration that is not positive and finite. If the block list
        cannot be saved the sender is still removed and blocked until the box restarts; the
        session's ``end_reason`` and the audit entry say so.
        """
        duration = check_duration(duration)
        session = self._find(session_id)
        reason = "blocked"
        saved = True
        try:
            self.blocklist.add(session.request.identity, session.name, duration)
        except StateWriteError as exc:
            saved = False
            reason = f"blocked (not saved, holds until the box restarts: {exc})"
            log.error("block of %s not saved: %s", session.request.identity, exc)
        self._observe(session, "block", actor, duration_s=duration, saved=saved)
        await self.end(session, reason)
        session.end_reason = reason
        return session

    def unblock(self, identity: str, actor: str) -> bool:
        """Lift a block; False if ``identity`` was not blocked. A failed save is logged and audited."""
        try:
            removed = self.blocklist.remove(identity)
            saved = True
        except StateWriteError as exc:
            removed, saved = True, False
            log.error("unblock of %s not saved (a restart brings the block back): %s", identity, exc)
        if removed:
            self.record("unblock", actor, identity=identity, saved=saved)
        return removed

    def apply_pin_setting(self, cfg: Any, actor: str) -> bool:
        """Take ``pin_mode``, ``pin`` and ``pin_length`` from a reloaded ``[session]`` section at run time;
        audited (never the PIN). Returns whether anything changed."""
        if (cfg.pin_mode, cfg.pin, cfg.pin_length) == (self.config.pin_mode, self.config.pin, self.config.pin_length):
            return False
        self.pin.configure(cfg.pin_mode, fixed=cfg.pin, length=cfg.pin_length)
        self.config = attrs.evolve(self.config, pin_mode=cfg.pin_mode, pin=cfg.pin, pin_length=cfg.pin_length)
        self.record("pin-setting", actor, mode=cfg.pin_mode)
        return True

    def rotate_pin(self, actor: str) -> None:
        """Draw a new PIN now (rotating mode) and audit it (never the PIN itself)."""
        self.pin.rotate()
        self.record("pin-rotate", actor)

    def pause(self, session_id: str, actor: str) -> Session:
        """Hide a sender from the screen without ending its session."""
        return self._toggle(session_id, Event.PAUSE, actor)

    def resume(self, session_id: str, actor: str) -> Session:
        """Show a paused sender again."""
        return self._toggle(session_id, Event.RESUME, actor)

    def _toggle(self, session_id: str, event: Event, actor: str) -> Session:
        session = self._find(session_id)
        self._move(session, event)
        action = "pause" if event is Event.PAUSE else "resume"
        self._observe(session, action, actor)
        self.changed.emit(action)
        return session

    # ------------------------------------------------------------------------------------ helpers

    def _move(self, session: Session, event: Event) -> None:
        session.state = next_state(session.state, event)
        session._state_changed.set()

    def _issue_meeting_id(self, previous: str | None) -> str | None:
        try:
            answer = self._receiver.plugins.call_first("receiver_meeting_id", previous=previous)
        except HookFailed as exc:
            log.error("meeting ID hook failed, drawing a random ID: %s", exc)
            return None
        return answer[1] if answer else None

    def status(self) -> dict[str, Any]:
        return {
            "sessions": [s.status() for s in self.all()],
            "counters": dict(self.counters),
            "blocked": [{"identity": b.identity, "label": b.label, "until": b.until} for b in self.blocklist.all()],
            "state_problems": {"blocklist": self.blocklist.problem, "audit_log": self.audit.last_error},
            "audit": self.audit.status(),
        }
