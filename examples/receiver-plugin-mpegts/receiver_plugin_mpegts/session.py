"""One pushing sender (source address and port) = one core session fed straight from the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from receiver_core import AuthFailed, QueueSource, SessionRejected, SessionRequest, UnsupportedMedia
from receiver_core.media.caps import VIDEO
from receiver_core.media.mpegts import ProgramChanged, TsSources

if TYPE_CHECKING:
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
        self.demux = TsSources(on_program=self._program, on_source=self._source)
        self.last_data = time.monotonic()
        self.session: Any = None
        self.closed = False
        self.error: str | None = None
        self._has_video = asyncio.Event()
        self._live = False  # the session is granted: new sources are attached at once
        self._attached: set[str] = set()

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
        ctx = self.service.ctx
        try:
            if not await self._video_found():
                return
            request = SessionRequest("mpegts", self.address[0], display_name=self.label)
            try:
                self.session = await ctx.sessions.request(request, handler=self)
            except (SessionRejected, AuthFailed) as exc:
                log.info("MPEG-TS sender %s refused: %s", self.label, exc)
                self.service.ignore(self.address)
                return
            if self.closed:  # stopped while waiting for approval
                return
            self._live = True
            watchdog = ctx.spawn(self._watch(), name=f"mpegts-watch:{self.label}")
            try:
                for kind, source in list(self.sources.items()):
                    await self._attach(kind, source)
                await watchdog
            finally:
                watchdog.cancel()
        finally:
            self.close()

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
                await self._finish(f"unsupported video: {exc}")
            else:
                log.warning("MPEG-TS sender %s: %s ignored (%s)", self.label, kind, exc)

    async def _watch(self) -> None:
        idle = self.service.config.idle_timeout
        while not self.closed:
            await asyncio.sleep(min(0.25, idle / 4))
            if time.monotonic() - self.last_data > idle:
                await self._finish("the sender stopped")
                return

    async def _finish(self, reason: str) -> None:
        if self.session is not None and not self.closed:
            self.closed = True
            await self.service.ctx.sessions.end(self.session, reason)
        self.close()

    def close(self) -> None:
        self.closed = True
        self.demux.close()
        self.service.forget(self)

    def stop(self, reason: str) -> None:
        """The core ended the session: ignore this sender until it has been quiet for a while."""
        log.info("MPEG-TS sender %s: session ended by the box (%s)", self.label, reason)
        self.service.ignore(self.address)
        self.close()

    def status(self) -> dict[str, Any]:
        return {"sender": self.label, "session": self.session.id if self.session else None,
                "error": self.error, **self.demux.status()}
