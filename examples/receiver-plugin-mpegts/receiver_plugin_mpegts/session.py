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
        self._done: asyncio.Future[str] | None = None  # set with the reason the stream is over

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
        """Ask for a session, demux, attach, and end the session exactly once on every way out.

        Ways out: refused, stopped by the box (kick, block, silence, shutdown), no video,
        unsupported video, the stream becoming unreadable, the plugin being retired (cancelled).
        The core's watchdog ends the session when the sender goes silent (``idle_timeout``).
        """
        ctx = self.service.ctx
        request = SessionRequest("mpegts", self.address[0], display_name=self.label,
                                 idle_timeout=self.service.config.idle_timeout)
        try:
            self.session = await ctx.sessions.request(request, handler=self)
        except (SessionRejected, AuthFailed) as exc:
            self.service.refused(self.address, str(exc))
            self.close()
            return
        loop = asyncio.get_running_loop()
        streams: asyncio.Future[tuple[MediaCaps | None, MediaCaps | None]] = loop.create_future()
        self._done = loop.create_future()

        # the demux thread hands everything to the loop through the context: work it causes there
        # (tasks, crashes) belongs to this plugin
        def found(video: MediaCaps | None, audio: MediaCaps | None) -> None:
            ctx.call_soon_threadsafe(self._found, video, audio, streams)

        def failed(message: str) -> None:
            ctx.call_soon_threadsafe(self._failed, message, streams)

        def packet(kind: str, pkt: MediaPacket) -> None:
            ctx.call_soon_threadsafe(self._push, kind, pkt)

        reason = "the sender stopped"
        try:
            if self.closed:  # the box ended it already (e.g. while it waited for approval)
                return
            Demuxer(self.feed, found, packet, failed, name=f"demux:{self.label}").start()
            video, audio = await _first(streams, self._done)
            await self._attach(video, audio)
            reason = await self._done
        except _Ended as exc:
            reason = str(exc)
        finally:
            await self._finish(reason)

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
        if self.closed:  # the box ended the session while the demuxer looked for streams
            raise _Ended("closed")
        if video is None:
            raise _Ended("no video in the stream")
        try:
            await media.attach(self.session, self.sources["video"])
        except UnsupportedMedia as exc:
            raise _Ended(f"unsupported video: {exc}") from None
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
        self.error = message
        log.warning("MPEG-TS sender %s: %s", self.label, message)
        if not streams.done():
            streams.set_exception(_Ended(message))
        self._set_done(message)

    def _set_done(self, reason: str) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(reason)

    async def _finish(self, reason: str) -> None:
        """The one way out of ``run``: end the core session (a no-op if the box ended it) and close."""
        self.close()
        if self.session is not None:  # the handler's stop() finds the sender closed already
            await self.service.ctx.sessions.end(self.session, reason)
        # a sender that keeps sending after its session ended must not start a new one at once
        self.service.ignore(self.address)

    def last_activity(self) -> float:
        """Monotonic time of the last datagram (the core's watchdog reads it while no media flows)."""
        return self.last_data

    def close(self) -> None:
        self.closed = True
        self.feed.close()
        for source in self.sources.values():
            source.end()
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
                "datagrams": self.datagrams, "bytes": self.bytes, "rtp_lost": self.sequence.lost,
                "dropped_bytes": self.feed.dropped_bytes, "error": self.error}


class _Ended(Exception):
    pass


async def _first(streams: asyncio.Future[Any], done: asyncio.Future[str]) -> Any:
    """The demuxer's streams, or ``_Ended`` if the sender is over before it found any."""
    await asyncio.wait((streams, done), return_when=asyncio.FIRST_COMPLETED)
    if streams.done():
        return streams.result()
    raise _Ended(done.result())
