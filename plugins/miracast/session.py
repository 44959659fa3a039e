"""One Wi-Fi Display source = one core session: ``WfdConnection`` for the protocol, the TS seam for
demuxing, the core for everything else (PIN/approval, admission, media, moderation).

``MiracastSource`` is also the session's handler: ``stop(reason)`` (kick, block, preemption,
shutdown) sends TEARDOWN and closes the connection.
"""

from __future__ import annotations

import asyncio
import logging
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

from .connection import WfdConnection
from .ts_bridge import TsConsumer, open_ts_consumer

if TYPE_CHECKING:
    from .service import MiracastService

__all__ = ["MiracastSource"]

log = logging.getLogger(__name__)


class MiracastSource:
    def __init__(self, service: MiracastService, host: str, port: int, *, origin: str,
                 display_name: str = "", client_id: str | None = None) -> None:
        self.service = service
        self.ctx = service.ctx
        self.host = host
        self.port = port
        self.origin = origin  # "manual" | "mice"
        self.display_name = display_name or f"Miracast {host}"
        self.client_id = client_id
        self.session: Any = None
        self.sources: dict[str, QueueSource] = {}
        self.connection = WfdConnection(host, port, service.connection_settings(), on_ts=self._ts,
                                        label=f"{host}:{port}")
        self.consumer: TsConsumer | None = None
        self.result: asyncio.Future[str] = asyncio.get_running_loop().create_future()  # "playing" or why not
        self.end_reason: str | None = None
        self._stopped = False

    @property
    def request(self) -> SessionRequest:
        address = self.connection.source_ip or self.host  # blocks and lockouts key on the address, not a name
        return SessionRequest("miracast", address, display_name=self.display_name, client_id=self.client_id)

    # --------------------------------------------------------------------------------------- life

    async def run(self) -> None:
        # reach the source first: an unreachable address never shows up as a session on the screen
        failure = await self.connection.open()
        if failure is not None:
            self._settle(failure)
            self.service.forget(self)
            return
        # an admin's connect needs no PIN/approval: marked only while this request is decided
        manual = self.connection.source_ip if self.origin == "manual" else None
        if manual:
            self.service.manual_hosts.add(manual)
        try:
            self.session = await self.ctx.sessions.request(self.request, self)
        except (SessionRejected, AuthFailed) as exc:
            self._settle(f"refused by the box: {exc}")
            self.connection.stop("refused")
            await self.connection.run()  # closes TCP and the RTP port
            self.service.forget(self)
            return
        finally:
            if manual:
                self.service.manual_hosts.discard(manual)
        if self._stopped:
            await self.connection.run()
            self.service.forget(self)
            return
        self.consumer = open_ts_consumer(f"miracast-ts:{self.host}", self._streams_found, self._packet,
                                         self._demux_error, start_thread=self.ctx.start_thread)
        playing = self.ctx.spawn(self._report_playing(), name=f"miracast-playing:{self.host}")
        try:
            reason = await self.connection.run()
        finally:
            playing.cancel()
            self.consumer.close()
            for source in self.sources.values():
                source.end()
        self.end_reason = reason
        self._settle(reason)
        log.info("Miracast %s: ended (%s)", self.connection.label, reason)
        if not self._stopped:
            await self.ctx.sessions.end(self.session, reason)
        self.service.forget(self)

    async def _report_playing(self) -> None:
        await self.connection.playing.wait()
        self._settle("playing")

    def _settle(self, outcome: str) -> None:
        if not self.result.done():
            self.result.set_result(outcome)

    def stop(self, reason: str) -> None:
        """The core ended the session (kick, block, preemption, shutdown): TEARDOWN, then close TCP."""
        self._stopped = True
        self._settle(f"stopped: {reason}")
        self.connection.stop(reason)

    # -------------------------------------------------------------------------------------- media

    def _ts(self, data: bytes) -> None:
        if self.consumer is not None:
            self.consumer.feed(data)

    def _streams_found(self, video: MediaCaps | None, audio: MediaCaps | None) -> None:  # demux thread
        self.ctx.call_soon_threadsafe(self._attach_later, video, audio)

    def _packet(self, kind: str, packet: MediaPacket) -> None:  # demux thread
        self.ctx.call_soon_threadsafe(self._push, kind, packet)

    def _demux_error(self, message: str) -> None:  # demux thread
        self.ctx.call_soon_threadsafe(self.connection.stop, f"media: {message}")

    def _attach_later(self, video: MediaCaps | None, audio: MediaCaps | None) -> None:
        # the queues exist before the first packet arrives, so the first keyframe is kept
        if video is not None:
            self.sources["video"] = QueueSource(video, maxsize=30, on_keyframe_request=self._keyframe)
        if audio is not None:
            self.sources["audio"] = QueueSource(audio, maxsize=100)
        self.ctx.spawn(self._attach(), name=f"miracast-attach:{self.host}")

    async def _attach(self) -> None:
        if "video" not in self.sources:
            self.connection.stop("the source sent no video")
            return
        try:
            await self.ctx.media.attach(self.session, self.sources["video"])
        except UnsupportedMedia as exc:
            self.connection.stop(f"unsupported video: {exc}")
            return
        if "audio" in self.sources:
            try:
                await self.ctx.media.attach(self.session, self.sources["audio"])
            except UnsupportedMedia as exc:
                self.sources.pop("audio").end()
                log.warning("Miracast %s: audio ignored (%s)", self.connection.label, exc)

    def _push(self, kind: str, packet: MediaPacket) -> None:
        source = self.sources.get(kind)
        if source is not None:
            source.push(packet)

    def _keyframe(self) -> None:
        self.connection.request_idr()

    def status(self) -> dict[str, Any]:
        return {**self.connection.status(), "origin": self.origin, "name": self.display_name,
                "core_session": getattr(self.session, "id", None)}
