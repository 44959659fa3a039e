"""TCP 7250, the MS-MICE control channel: a thin asyncio protocol around ``MiceFramer``.

SOURCE_READY starts a WFD session towards ``<peer address>:<RTSP Port TLV>``; STOP_PROJECTION or
the source closing 7250 stops it. Encrypted projection (SESSION_REQUEST with DTLS, SECURITY_HANDSHAKE)
is not supported: the connection is closed with a log line instead of hanging.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from receiver_core import RemoteProtocolError

from .mice import DEFAULT_RTSP_PORT, Command, MiceFramer, MiceMessage

__all__ = ["MiceProtocol"]

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 30.0  # a source that connects and never says SOURCE_READY


class MiceProtocol(asyncio.Protocol):
    def __init__(self, on_ready: Callable[[str, MiceMessage, Any], None], on_stop: Callable[[Any, str], None]) -> None:
        self.on_ready = on_ready
        self.on_stop = on_stop
        self.framer = MiceFramer()
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.projecting = False
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else ""
        self._idle = asyncio.get_running_loop().call_later(IDLE_TIMEOUT, self._timeout)

    def _timeout(self) -> None:
        if not self.projecting:
            log.info("MS-MICE %s: no SOURCE_READY within %.0f s, closing", self.peer, IDLE_TIMEOUT)
            self._close()

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.framer.feed(data)
        except RemoteProtocolError as exc:
            log.warning("MS-MICE %s: %s; closing", self.peer, exc)
            self._close("protocol error")
            return
        for message in messages:
            self._handle(message)

    def _handle(self, message: MiceMessage) -> None:
        if message.command is Command.SOURCE_READY:
            if self.projecting:
                return  # a repeated SOURCE_READY changes nothing
            self.projecting = True
            if message.rtsp_port is None:
                log.info("MS-MICE %s: SOURCE_READY without RTSP port, using %d", self.peer, DEFAULT_RTSP_PORT)
            self.on_ready(self.peer, message, self)
        elif message.command is Command.STOP_PROJECTION:
            self._close("the source stopped projecting")
        elif message.command in (Command.SESSION_REQUEST, Command.SECURITY_HANDSHAKE):
            if message.command is Command.SESSION_REQUEST and not message.wants_encryption:
                return  # a session request without DTLS: SOURCE_READY follows
            log.warning("MS-MICE %s: the source asks for encrypted projection (DTLS/PIN), which this box does "
                        "not support; closing so it can fall back", self.peer)
            self._close("encryption not supported")
        else:
            log.warning("MS-MICE %s: unexpected %s; closing", self.peer, message.command.name)
            self._close("protocol error")

    def _close(self, reason: str = "closed") -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        if self.projecting:
            self.projecting = False
            self.on_stop(self, reason)

    def close(self) -> None:
        """The WFD session ended on the box side: close 7250 too."""
        self.projecting = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
        if self.projecting:
            self.projecting = False
            self.on_stop(self, "the source closed the MS-MICE connection")
