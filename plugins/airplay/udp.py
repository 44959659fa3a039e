"""The three UDP sockets of one RAOP stream (data, control, timing): thin asyncio protocols.

Each socket is bound per stream on the address the control connection arrived on (port 0:
the kernel picks), accepts datagrams only from the sender's address and hands the bytes to
the stream; everything else is counted and dropped.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

__all__ = ["StreamSocket", "open_socket"]


class StreamSocket(asyncio.DatagramProtocol):
    def __init__(self, peer_ip: str, on_datagram: Callable[[bytes, tuple[str, int]], None]) -> None:
        self.peer_ip = peer_ip
        self.on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None
        self.foreign = 0
        self.closed = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024 * 1024)
            except OSError:
                pass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.closed:
            return
        if addr[0] != self.peer_ip:
            self.foreign += 1
            return
        self.on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP unreachable after the sender left: the control connection decides the end

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.closed:
            self.transport.sendto(data, addr)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


async def open_socket(local_ip: str, peer_ip: str,
                      on_datagram: Callable[[bytes, tuple[str, int]], None]) -> StreamSocket:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(lambda: StreamSocket(peer_ip, on_datagram),
                                                      local_addr=(local_ip, 0))
    return protocol
