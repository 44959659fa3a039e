"""One pushing sender (source address and port) = one core session fed by a demux thread."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from receiver_core import (
    AuthFailed,
    MediaCaps,
    MediaPacket,
    QueueSource,
    SessionRejected,
    SessionRequest,
    UnsupportedMedia,
)

from .demux import ByteFeed, Demuxer
from .wire import SequenceTracker, TsPayload

if TYPE_CHECKING:
    from .transport import MpegTsService

__all__ = ["Sender"]

log = logging.getLogger(__name__)


class Sender:
    """Also the session's ``SessionHandler``: ``stop()`` is how the core ends it (kick, preempt, shutdown)."""

    def __init__(self, service: MpegTsService, address: tuple[str, int]) -> None:
        self.service = service
        self.address = address
        cfg = service.config
        self.feed = ByteFeed(cfg.buffer_kib * 1024)
        self.sequence = SequenceTracker()
        self.last_data = time.monotonic()
        self.datagrams = 0
        self.bytes = 0
        self.session: Any = None
        self.sources: dict[str, QueueSource] = {}
        self.closed = False
        self.error: str | None = None

    @property
    def label(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    # ------------------------------------------------------------------------------------ input

    def datagram(self, payload: TsPayload) -> None:
        self.last_data = time.monotonic()
        self.datagrams += 1
        self.bytes += len(payload.data)
        if payload.sequence is not None:
            self.sequence.update(payload.sequence)
        self.feed.write(payload.data)

    # ------------------------------------------------------------------------------------ life

    async def run(self) -> None:
        ctx = self.service.ctx
        request = SessionRequest("mpegts", self.address[0], display_name=self.label)
        try:
            self.session = await ctx.sessions.request(request, handler=self)
        except (SessionRejected, AuthFailed) as exc:
            log.info("MPEG-TS sender %s refused: %s", self.label, exc)
            self.service.ignore(self.address)
            self.close()
            return
        if self.closed:  # stopped while waiting for approval
            return
        streams: asyncio.Future[tuple[MediaCaps | None, MediaCaps | None]] = asyncio.get_running_loop().create_future()

        # the demux thread hands everything to the loop through the context: work it causes there
        # (tasks, crashes) belongs to this plugin
        def found(video: MediaCaps | None, audio: MediaCaps | None) -> None:
            ctx.call_soon_threadsafe(self._found, video, audio, streams)

        def failed(message: str) -> None:
            ctx.call_soon_threadsafe(self._failed, message, streams)

        def packet(kind: str, pkt: MediaPacket) -> None:
            ctx.call_soon_threadsafe(self._push, kind, pkt)

        Demuxer(self.feed, found, packet, failed, name=f"demux:{self.label}").start()
        watchdog = ctx.spawn(self._watch(), name=f"mpegts-watch:{self.label}")
        try:
            video, audio = await streams
            await self._attach(video, audio)
            await watchdog
        except _Ended:
            pass
        finally:
            watchdog.cancel()
            self.close()

    def _found(self, video: MediaCaps | None, audio: MediaCaps | None, streams: asyncio.Future[Any]) -> None:
        # the sources exist before the first packet is handed over: the first keyframe is kept
        if video is not None:
            self.sources["video"] = QueueSource(video, maxsize=30)
        if audio is not None:
            self.sources["audio"] = QueueSource(audio, maxsize=100)
        if not streams.done():
            streams.set_result((video, audio))

    async def _attach(self, video: MediaCaps | None, audio: MediaCaps | None) -> None:
        media = self.service.ctx.media
        if video is None:
            raise self._end("no video in the stream")
        try:
            await media.attach(self.session, self.sources["video"])
        except UnsupportedMedia as exc:
            raise self._end(f"unsupported video: {exc}") from None
        if audio is not None:
            try:
                await media.attach(self.session, self.sources["audio"])
            except UnsupportedMedia as exc:
                del self.sources["audio"]
                log.warning("MPEG-TS sender %s: audio ignored (%s)", self.label, exc)

    def _push(self, kind: str, packet: MediaPacket) -> None:
        source = self.sources.get(kind)
        if source is not None:
            source.push(packet)

    def _failed(self, message: str, streams: asyncio.Future[Any]) -> None:
        if self.closed:
            return
        self.error = message
        log.warning("MPEG-TS sender %s: %s", self.label, message)
        if not streams.done():
            streams.set_exception(self._end(message))
        else:
            self.service.ctx.spawn(self._finish(message))

    async def _watch(self) -> None:
        idle = self.service.config.idle_timeout
        while not self.closed:
            await asyncio.sleep(min(0.25, idle / 4))
            if time.monotonic() - self.last_data > idle:
                await self._finish("the sender stopped")
                return

    def _end(self, reason: str) -> _Ended:
        self.service.ctx.spawn(self._finish(reason))
        return _Ended(reason)

    async def _finish(self, reason: str) -> None:
        if self.session is not None and not self.closed:
            self.closed = True
            await self.service.ctx.sessions.end(self.session, reason)
        self.close()

    def close(self) -> None:
        self.closed = True
        self.feed.close()
        for source in self.sources.values():
            source.end()
        self.service.forget(self)

    def stop(self, reason: str) -> None:
        """The core ended the session: ignore this sender until it has been quiet for a while."""
        log.info("MPEG-TS sender %s: session ended by the box (%s)", self.label, reason)
        self.service.ignore(self.address)
        self.close()

    def status(self) -> dict[str, Any]:
        return {"sender": self.label, "session": self.session.id if self.session else None,
                "datagrams": self.datagrams, "bytes": self.bytes, "rtp_lost": self.sequence.lost,
                "dropped_bytes": self.feed.dropped_bytes, "error": self.error}


class _Ended(Exception):
    pass
