"""The UDP side: one socket for every sender; datagrams are sorted by source address."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from receiver_core import PluginContext

from .config import MpegTsConfig
from .session import Sender

__all__ = ["MpegTsService", "MpegTsProtocol"]

log = logging.getLogger(__name__)

#: Senders ignored at once (refused or ended while still sending); the oldest are forgotten first.
MAX_IGNORED = 1024
REFUSAL_LOG_SECONDS = 10.0


class MpegTsService:
    """State of the plugin while the box runs: senders, ignored addresses, counters."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.config = ctx.config(MpegTsConfig)
        self.senders: dict[tuple[str, int], Sender] = {}
        self.ignored: dict[tuple[str, int], float] = {}
        self.over_limit = 0
        self.refusals = 0
        self.retired: dict[str, int] = {"bad_datagrams": 0, "bytes_skipped": 0}  # of senders forgotten
        self._last_warning = 0.0
        self._last_refusal_log = 0.0
        self._refusals_logged = 0

    def datagram(self, data: bytes, address: tuple[str, int]) -> None:
        now = time.monotonic()
        if address in self.ignored:
            if now - self.ignored[address] < self.config.idle_timeout:
                self.ignored[address] = now  # still sending: keep ignoring until it pauses
                return
            del self.ignored[address]
        sender = self.senders.get(address)
        if sender is None:
            if len(self.senders) >= self.config.max_senders:
                self.over_limit += 1
                return
            sender = Sender(self, address)
            self.senders[address] = sender
            self.ctx.spawn(sender.run(), name=f"mpegts:{sender.label}")
        sender.datagram(data, now)

    def warn_bad_datagram(self, address: tuple[str, int], why: str) -> None:
        now = time.monotonic()
        if now - self._last_warning > 5:
            self._last_warning = now
            log.warning("MPEG-TS: dropped a bad datagram from %s:%d (%s); %d so far", *address[:2], why,
                        self._total("bad_datagrams"))

    def _total(self, counter: str) -> int:
        return self.retired[counter] + sum(int(s.demux.receiver.status()[counter]) for s in self.senders.values())

    def ignore(self, address: tuple[str, int]) -> None:
        """Drop this sender's datagrams until it has been quiet for ``idle_timeout`` (bounded table)."""
        self.ignored.pop(address, None)
        self.ignored[address] = time.monotonic()
        while len(self.ignored) > MAX_IGNORED:  # a host cycling source ports: the oldest go first
            del self.ignored[next(iter(self.ignored))]

    def refused(self, address: tuple[str, int], reason: str) -> None:
        """The box refused this sender: ignore it; log at most once per ``REFUSAL_LOG_SECONDS`` with a count."""
        self.refusals += 1
        self.ignore(address)
        now = time.monotonic()
        if now - self._last_refusal_log >= REFUSAL_LOG_SECONDS:
            more = self.refusals - self._refusals_logged - 1
            log.info("MPEG-TS sender %s:%d refused: %s%s", *address[:2], reason,
                     f" ({more} more refused since the last report)" if more > 0 else "")
            self._last_refusal_log = now
            self._refusals_logged = self.refusals

    def forget(self, sender: Sender) -> None:
        if self.senders.get(sender.address) is sender:
            del self.senders[sender.address]
            status = sender.demux.receiver.status()
            for counter in self.retired:
                self.retired[counter] += status[counter]

    def close(self) -> None:
        for sender in list(self.senders.values()):
            sender.close()

    def status(self) -> dict[str, Any]:
        return {"senders": [s.status() for s in self.senders.values()], "bad_datagrams": self._total("bad_datagrams"),
                "bytes_skipped": self._total("bytes_skipped"),
                "over_limit": self.over_limit, "ignored": len(self.ignored), "refusals": self.refusals}


class MpegTsProtocol(asyncio.DatagramProtocol):
    def __init__(self, service: MpegTsService) -> None:
        self.service = service

    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            import socket

            try:  # a large receive buffer rides out bursts (a keyframe is many datagrams at once)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            except OSError:
                pass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.service.datagram(data, addr)
