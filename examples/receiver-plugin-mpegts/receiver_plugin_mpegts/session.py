"""One pushing sender (source address and port) = one core session fed straight from the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from receiver_core import AuthFailed, QueueSource, SessionRejected, SessionRequest, UnsupportedMedia
from receiver_core.media.caps import VIDEO

if TYPE_CHECKING:
    from receiver_core.media.mpegts import ProgramChanged

    from .transport import MpegTsService

__all__ = ["Sender"]

log = logging.getLogger(__name__)


class Sender:
    """Also the session's ``SessionHandler``: ``stop()`` is how the core ends it (kick, preempt, shutdown).

    No session is requested until the stream's PMT names a video stream the core can decode:
    garbage, or a stream without video, never reaches the moderator or the screen.
    """

    def __init__(self, service: MpegTsService, address: tuple[str, int]) -> None:
        self.service = service
        self.address = address
        # imported with the first sender, not with the plugin: the TS parsers (and construct, about
        # 3 MiB) are not part of an idle box (docs/architecture.md, "Memory follows the room")
        from receiver_core.media.mpegts import TsSources

        self.demux = TsSources(on_program=self._program, on_source=self._source)
        self.last_data = time.monotonic()
        self.session: Any = None
        self.closed = False
        self.error: str | None = None
        self._has_video = asyncio.Event()
        self._live = False  # the session is granted: new sources are attached at once
        self._attached: set[str] = set()
        self._done: asyncio.Future[str] | None = None  # set with the reason the stream is over

    @property
    def label(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    @property
    def sources(self) -> dict[str, QueueSource]:
        return self.demux.sources

    # ------------------------------------------------------------------------------------ input

    def datagram(self, data: bytes, arrival: float) -> None:
        self.last_data = arrival
        bad = self.demux.receiver.bad_datagrams
        self.demux.feed(data, arrival)
        if self.demux.receiver.bad_datagrams != bad:
            self.service.warn_bad_datagram(self.address, self.demux.receiver.last_error or "")

    def _program(self, event: ProgramChanged) -> None:
        if event.video is None:
            types = ", ".join(f"{s.stream_type:#04x}" for s in event.streams) or "none"
            self.error = f"the stream carries no video the box can decode (stream types: {types})"
            log.warning("MPEG-TS sender %s: %s", self.label, self.error)
            return
        self.error = None
        self._has_video.set()

    def _source(self, kind: str, source: QueueSource) -> None:
        if self._live:
            self.service.ctx.spawn(self._attach(kind, source), name=f"mpegts:{self.label}:{kind}")

    # ------------------------------------------------------------------------------------ life

    async def run(self) -> None:
        """Wait for video, ask for a session, attach, and end the session exactly once on every way out.

        Ways out: the sender goes quiet before video shows up (no session), refused, stopped by the
        box (kick, block, silence, shutdown: ``stop``), unsupported video, the plugin retired
        (cancelled). The core's watchdog ends the session when the sender goes silent
        (``idle_timeout``: datagrams while it waits for approval, media once it plays).
        """
        ctx = self.service.ctx
        self._done = asyncio.get_running_loop().create_future()
        reason = "the sender stopped"
        try:
            if not await self._video_found():
                return
            request = SessionRequest("mpegts", self.address[0], display_name=self.label,
                                     idle_timeout=self.service.config.idle_timeout)
            try:
                self.session = await ctx.sessions.request(request, handler=self)
            except (SessionRejected, AuthFailed) as exc:
                self.service.refused(self.address, str(exc))
                return
            if self.closed:  # stopped while waiting for approval
                return
            self._live = True
            for kind, source in list(self.sources.items()):
                await self._attach(kind, source)
            reason = await self._done
        finally:
            await self._finish(reason)

    async def _video_found(self) -> bool:
        """Wait until the PMT names video the core can decode; ``False`` if the sender went quiet first."""
        idle = self.service.config.idle_timeout
        while not self.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._has_video.wait(), timeout=min(0.25, idle / 4))
            if self._has_video.is_set():
                return True
            if time.monotonic() - self.last_data > idle:
                return False
        return False

    async def _attach(self, kind: str, source: QueueSource) -> None:
        if kind in self._attached or self.closed:
            return
        self._attached.add(kind)
        try:
            await self.service.ctx.media.attach(self.session, source)
        except UnsupportedMedia as exc:
            if kind == VIDEO:
                self._set_done(f"unsupported video: {exc}")
            else:
                log.warning("MPEG-TS sender %s: %s ignored (%s)", self.label, kind, exc)

    def _set_done(self, reason: str) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(reason)

    async def _finish(self, reason: str) -> None:
        """The one way out of ``run``: close, end the core session (a no-op if the box ended it)."""
        self.close()
        if self.session is not None:
            await self.service.ctx.sessions.end(self.session, reason)  # stop() finds the sender closed
            # a sender that goes on sending after its session ended must not start a new one at once
            self.service.ignore(self.address)

    def last_activity(self) -> float:
        """Monotonic time of the last datagram (the core's watchdog reads it until media flows)."""
        return self.last_data

    def close(self) -> None:
        self.closed = True
        self.demux.close()
        self.service.forget(self)
        self._set_done("closed")

    def stop(self, reason: str) -> None:
        """The core ended the session: ignore this sender until it has been quiet for a while."""
        if self.closed:  # the plugin is ending it itself (``_finish``)
            return
        log.info("MPEG-TS sender %s: session ended by the box (%s)", self.label, reason)
        self.service.ignore(self.address)
        self.close()

    def status(self) -> dict[str, Any]:
        return {"sender": self.label, "session": self.session.id if self.session else None,
                "error": self.error, **self.demux.status()}
