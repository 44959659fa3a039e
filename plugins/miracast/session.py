"""One Wi-Fi Display source = one core session: ``WfdConnection`` for the protocol, the core's MPEG-TS
receiver (``TsSources``) for demuxing, the core for everything else (PIN/approval, admission, media,
moderation).

``MiracastSource`` is also the session's handler: ``stop(reason)`` (kick, block, preemption,
shutdown) sends TEARDOWN and closes the connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from receiver_core import (
    AuthFailed,
    QueueSource,
    SessionRejected,
    SessionRequest,
    UnsupportedMedia,
)
from receiver_core.media.mpegts import TsSources

from .connection import WfdConnection

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
        self.ts = TsSources(on_source=self._source, on_keyframe_request=self._keyframe)
        self.connection = WfdConnection(host, port, service.connection_settings(), on_ts=self._ts,
                                        label=f"{host}:{port}")
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
        playing = self.ctx.spawn(self._report_playing(), name=f"miracast-playing:{self.host}")
        try:
            reason = await self.connection.run()
        finally:
            playing.cancel()
            self.ts.close()
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
        """In-order TS packets from the RTP reorder buffer into the core's MPEG-TS receiver."""
        self.ts.feed(data, time.monotonic())

    def _source(self, kind: str, source: QueueSource) -> None:
        """A stream's first access unit is complete: attach it (the queue keeps it meanwhile)."""
        self.ctx.spawn(self._attach(kind, source), name=f"miracast-attach:{self.host}:{kind}")

    async def _attach(self, kind: str, source: QueueSource) -> None:
        if self.session is None or self.connection.end_reason is not None:
            return
        try:
            await self.ctx.media.attach(self.session, source)
        except UnsupportedMedia as exc:
            if kind == "video":
                self.connection.stop(f"unsupported video: {exc}")
            else:
                source.end()
                log.warning("Miracast %s: audio ignored (%s)", self.connection.label, exc)

    def _keyframe(self) -> None:
        self.connection.request_idr()

    def status(self) -> dict[str, Any]:
        return {**self.connection.status(), "origin": self.origin, "name": self.display_name,
                "core_session": getattr(self.session, "id", None), "ts": self.ts.status()}
