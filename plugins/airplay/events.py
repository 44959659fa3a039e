"""The AirPlay 2 event channel: a TCP port the sender connects to after the session SETUP.

The box has no events to send yet; it keeps the connection open (HAP-framed with the
``Events-*`` keys), checks whatever arrives authenticates, and closes it with the session.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from receiver_core.errors import RemoteProtocolError

from .hap import HapChannel

__all__ = ["EventChannel"]

log = logging.getLogger(__name__)


class _EventConnection(asyncio.Protocol):
    def __init__(self, owner: EventChannel) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if peer[0] != self.owner.peer_ip or self.owner.connection is not None:
            transport.abort()
            return
        self.owner.connection = self

    def data_received(self, data: bytes) -> None:
        try:
            self.owner.channel.feed(data)
        except RemoteProtocolError as exc:
            log.info("AirPlay event channel from %s: %s", self.owner.peer_ip, exc)
            if self.transport is not None:
                self.transport.abort()


class EventChannel:
    def __init__(self, peer_ip: str, channel: HapChannel) -> None:
        self.peer_ip = peer_ip
        self.channel = channel
        self.server: asyncio.Server | None = None
        self.connection: _EventConnection | None = None

    async def open(self, local_ip: str) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _EventConnection(self), host=local_ip, port=0)
        return int(self.server.sockets[0].getsockname()[1])

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.connection is not None and self.connection.transport is not None:
            self.connection.transport.close()
