"""``MediaEngine``: links a session's sources to decoders and to the display and audio output.

Plugins call ``await receiver.media.attach(session, source, role=...)``. Caps are checked right
there (``UnsupportedMedia`` before any data flows). A session has at most one audio stream and
one video stream per ``StreamRole`` (its screen, its camera); ``detach`` stops one of them before
the session ends. Video is decoded only while the session is visible; audio only while the
session has the audio focus. When a session becomes visible again its video links resync on the
next keyframe.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..box import Box
from ..errors import HookFailed, MediaError
from ..model import StreamRole
from ..session.state import SessionState
from .caps import VIDEO, MediaCaps, MediaSource
from .decoders import DecoderOptions, DecoderRegistry, DecoderSpec
from .pipeline import Link
from .stats import StreamStats

if TYPE_CHECKING:
    from ..display.service import DisplayService
    from ..session.manager import Session, SessionManager
    from .audio import AudioOutput

__all__ = ["MediaEngine", "SessionMedia"]

log = logging.getLogger(__name__)

VIDEO_QUEUE, VIDEO_MAX_LATE = 60, 0.3   # packets, seconds: latency is bounded by time
AUDIO_QUEUE, AUDIO_MAX_LATE = 100, 0.5


class EngineHost(Box, Protocol):
    """What the media engine needs of the box besides ``Box``."""

    @property
    def sessions(self) -> SessionManager: ...

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> Any:
        """Start a supervised core task."""


class SessionMedia:
    """The links of one session: at most one audio, and one video per ``StreamRole``."""

    def __init__(self, engine: MediaEngine, session: Session) -> None:
        self._engine = engine
        self.session = session
        self.links: list[Link] = []

    def status(self) -> dict[str, Any]:
        return {_status_key(link): link.stats.status() for link in self.links}

    def last_packet(self) -> float:
        """Monotonic time of the newest packet on any link (0 when none)."""
        return max((link.last_received for link in self.links), default=0.0)

    def link(self, kind: str, role: StreamRole = StreamRole.MAIN) -> Link | None:
        return next((link for link in self.links if link.caps.kind == kind and link.role is role), None)

    def video_roles(self) -> tuple[StreamRole, ...]:
        """Roles of the attached video streams, main first (``StreamRole`` order)."""
        roles = {link.role for link in self.links if link.caps.kind == VIDEO}
        return tuple(role for role in StreamRole if role in roles)

    async def close(self) -> None:
        for link in self.links:
            await link.stop()
        self.links.clear()
        self._engine.detached(self.session)


class MediaEngine:
    def __init__(self, receiver: EngineHost) -> None:
        self._receiver = receiver
        self.registry = DecoderRegistry(receiver.config.decoders.rank)
        receiver.plugins.call_each("receiver_register_decoders", registry=self.registry)
        self.registry.check_conflicts()  # a duplicate name fails startup naming both plugins
        self.registry.check_overrides()
        self.options = DecoderOptions(threads=receiver.config.decoders.threads)
        self._visible: dict[str, bool] = {}
        self._display: DisplayService | None = None
        self._audio: AudioOutput | None = None

    def start(self, display: DisplayService, audio: AudioOutput) -> None:
        """Feed video to ``display`` and audio to ``audio`` from now on."""
        self._display, self._audio = display, audio
        self._receiver.sessions.changed.connect(self._sessions_changed)

    @property
    def display(self) -> DisplayService:
        if self._display is None:
            raise RuntimeError("the media engine is not started")
        return self._display

    @property
    def audio(self) -> AudioOutput:
        if self._audio is None:
            raise RuntimeError("the media engine is not started")
        return self._audio

    async def stop(self) -> None:
        for session in list(self._receiver.sessions.all()):
            if session.media is not None:
                await session.media.close()

    def select(self, caps: MediaCaps) -> DecoderSpec:
        """Ranked choice, with ``receiver_select_decoder`` as a rarely used override."""
        def override(caps: MediaCaps, candidates: Sequence[DecoderSpec]) -> DecoderSpec | None:
            try:
                answer = self._receiver.plugins.call_first("receiver_select_decoder", caps=caps,
                                                           candidates=candidates)
            except HookFailed as exc:
                log.error("decoder selection hook failed, using the ranked choice: %s", exc)
                return None
            return answer[1] if answer else None
        return self.registry.select(caps, override)

    async def attach(self, session: Session, source: MediaSource, role: StreamRole = StreamRole.MAIN) -> Link:
        """Link a source of ``session``; raises ``UnsupportedMedia`` at once if nothing can decode it.

        ``role`` names what a video stream shows (``StreamRole``); audio is always ``MAIN``. Raises
        ``MediaError`` for a session that has ended (nobody would ever stop the link), for a second
        stream of the same kind and role, and for audio with another role.
        """
        if session.state is SessionState.ENDED:
            raise MediaError(f"session {session.id} has ended ({session.end_reason})")
        kind = source.caps.kind
        if kind != VIDEO and role is not StreamRole.MAIN:
            raise MediaError(f"session {session.id}: {kind} streams have no role but main, not {role.value}")
        if session.media is None:
            session.media = SessionMedia(self, session)
        if session.media.link(kind, role) is not None:
            raise MediaError(f"session {session.id} already has its {_describe(kind, role)} stream")
        if kind == VIDEO:
            sink: Any = self.display.surface_for(session, role)
            gate = lambda: session.visible  # noqa: E731
            queue_size, max_late = VIDEO_QUEUE, VIDEO_MAX_LATE
        else:
            sink = self.audio.sink_for(session)
            gate = lambda: session.visible and self.audio.focus == session.id  # noqa: E731
            queue_size, max_late = AUDIO_QUEUE, AUDIO_MAX_LATE
        stats = sink.stats if hasattr(sink, "stats") else StreamStats(kind)
        name = f"{session.id}/{kind}" if role is StreamRole.MAIN else f"{session.id}/{role.value}"
        try:
            link = Link(name=name, source=source, select=self.select, sink=sink, stats=stats,
                        options=self.options, gate=gate, queue_size=queue_size, max_late=max_late,
                        on_failure=lambda message: self._link_failed(session, message), role=role)
        except Exception:
            if kind == VIDEO:
                self.display.forget_stream(session, role)
            raise
        session.media.links.append(link)
        self._visible[session.id] = session.visible
        link.start()
        if kind == VIDEO:
            self.display.relayout()  # the layout policy now sees this stream (a camera gets its inset)
        log.info("session %s: %s %s decoded by %s", session.id, _describe(kind, role), source.caps.describe(),
                 link.spec.name)
        return link

    async def detach(self, session: Session, link: Link) -> None:
        """Stop one stream of ``session`` before the session ends (a camera the sender turned off).

        The link stops, its tile or inset leaves the screen; the session and its other streams go
        on. A link that is not (or no longer) attached is ignored.
        """
        media = session.media
        if media is None or link not in media.links:
            return
        media.links.remove(link)
        await link.stop()
        if link.caps.kind == VIDEO:
            self.display.forget_stream(session, link.role)
        log.info("session %s: %s stream detached", session.id, _describe(link.caps.kind, link.role))

    def _link_failed(self, session: Session, message: str) -> None:
        """A decoder gave up: end the session (a black tile that never ends helps nobody)."""
        self._receiver.spawn(self._receiver.sessions.end(session, f"error: {message}"), f"end:{session.id}")

    def detached(self, session: Session) -> None:
        self._visible.pop(session.id, None)
        self.display.forget(session)

    def _sessions_changed(self, _what: str) -> None:
        for session in self._receiver.sessions.all():
            if session.media is None:
                continue
            was = self._visible.get(session.id, False)
            self._visible[session.id] = session.visible
            if session.visible and not was:
                for link in session.media.links:
                    if link.caps.kind == VIDEO:
                        link.resync()


def _describe(kind: str, role: StreamRole) -> str:
    return kind if role is StreamRole.MAIN else f"{role.value} {kind}"


def _status_key(link: Link) -> str:
    """``video`` and ``audio`` for the main streams, the role's name (``camera``) for the others."""
    return link.caps.kind if link.role is StreamRole.MAIN else link.role.value
