"""Connection guard in front of aiohttp: caps, header and stall timeouts, TLS after admission.

Every TCP connection to the admin API is first a ``GuardedConnection``:

* **caps**: at most ``per_address`` connections from one address (an IPv6 /64 counts as one
  address) and ``total`` from everything but loopback. When the total is reached, a newcomer
  from an address holding fewer connections than the busiest one takes the place of that
  address's oldest connection that has not started a request; otherwise the newcomer is
  dropped. Loopback is outside the total, so local tools always get in. Refused connections are
  aborted at once (RST), so they never hold a file descriptor.
* **header timeout**: a connection that has not delivered a complete request head (after the
  TLS handshake, if any) within ``header_timeout`` seconds is aborted.
* **stall timeout**: a client that stops reading (the kernel buffer fills and the transport is
  paused) for ``stall_timeout`` seconds is aborted; MJPEG viewers that wander off end this way.
* **TLS** starts only after a connection is admitted, so a flood of handshakes cannot get past
  the caps; the handshake is covered by the header timeout.

The idle time between keep-alive requests is aiohttp's ``keepalive_timeout`` (set by the server)
and bodies are read under a deadline by the handlers. Causes are counted in an ``ErrorTally``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections.abc import Callable
from typing import Any

from .tally import ErrorTally

__all__ = ["ConnectionGuard", "GuardedConnection", "address_key"]


def address_key(host: str | None) -> tuple[str, bool]:
    """(key, is_loopback) for a peer address: IPv6 addresses count per /64, IPv4-mapped as IPv4."""
    try:
        ip = ipaddress.ip_address((host or "").split("%")[0])
    except ValueError:
        return (host or "?", False)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv6Address) and not ip.is_loopback:
        return (str(ipaddress.IPv6Network((ip, 64), strict=False)), False)
    return (str(ip), ip.is_loopback)


class GuardedConnection(asyncio.Protocol):
    """One admitted (or refused) connection; forwards everything to aiohttp's protocol."""

    def __init__(self, guard: ConnectionGuard) -> None:
        self._guard = guard
        self.inner: Any = None
        self.transport: asyncio.Transport | None = None
        self.key = "?"
        self.loopback = False
        self.in_request = False
        self.admitted = False
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._handshake: asyncio.Task[None] | None = None
        self._early: list[bytes] = []  # decrypted bytes that came with the end of the TLS handshake

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is not None:
            return  # the TLS transport reports itself again through start_tls: already set up
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.key, self.loopback = address_key(peer[0] if peer else None)
        if not self._guard.admit(self):
            transport.abort()
            return
        self.admitted = True
        self._arm("header", self._guard.header_timeout, "no complete request in time")
        if self._guard.ssl_context is None:
            self._start_inner(transport)
        else:
            transport.pause_reading()  # the ClientHello must wait for start_tls, not reach this protocol
            self._handshake = asyncio.get_running_loop().create_task(self._start_tls(transport))

    async def _start_tls(self, raw: asyncio.Transport) -> None:
        loop = asyncio.get_running_loop()
        context = self._guard.ssl_context
        assert context is not None
        try:
            secure = await loop.start_tls(raw, self, context, server_side=True,
                                          ssl_handshake_timeout=self._guard.header_timeout)
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            self._guard.tally.note("tls-handshake", f"admin API: TLS handshake with {self.key} failed "
                                   f"({type(exc).__name__})", level=logging.INFO)
            raw.abort()
            self._release()
            return
        if secure is None or not self.admitted:  # timed out or shut down while the handshake finished
            if secure is not None:
                secure.abort()
            return
        self.transport = secure
        self._start_inner(secure)

    def _start_inner(self, transport: asyncio.Transport) -> None:
        self.inner = self._guard.factory()
        self._guard.by_handler[self.inner] = self
        self.inner.connection_made(transport)
        early, self._early = self._early, []
        for data in early:
            self.inner.data_received(data)

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)
        elif self.admitted and sum(map(len, self._early)) + len(data) <= 65536:
            self._early.append(data)  # TLS 1.3: the request may arrive before start_tls returns

    def eof_received(self) -> bool | None:
        if self.inner is not None:
            keep_open: bool | None = self.inner.eof_received()
            return keep_open
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        if self._handshake is not None and not self._handshake.done():
            self._handshake.cancel()
        inner, self.inner = self.inner, None
        if inner is not None:
            inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._arm("stall", self._guard.stall_timeout, "stopped reading")
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        self._cancel("stall")
        if self.inner is not None:
            self.inner.resume_writing()

    # ------------------------------------------------------------------ guard side

    def request_started(self) -> None:
        """A complete request head arrived (called by the server's first middleware)."""
        self._cancel("header")
        self.in_request = True

    def request_finished(self) -> None:
        self.in_request = False

    def abort(self, cause: str, message: str) -> None:
        self._guard.tally.note(cause, f"admin API: closed a connection from {self.key}: {message}",
                               level=logging.INFO)
        if self.transport is not None:
            self.transport.abort()
        self._release()

    def _arm(self, name: str, delay: float, message: str) -> None:
        self._cancel(name)
        loop = asyncio.get_running_loop()
        self._timers[name] = loop.call_later(delay, self.abort, f"{name}-timeout", message)

    def _cancel(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()

    def _release(self) -> None:
        for name in list(self._timers):
            self._cancel(name)
        if self.admitted:
            self.admitted = False
            self._guard.release(self)


class ConnectionGuard:
    """The protocol factory handed to ``loop.create_server``; see the module docstring."""

    def __init__(self, factory: Callable[[], Any], tally: ErrorTally, *, per_address: int = 16,
                 total: int = 128, header_timeout: float = 10.0, stall_timeout: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.factory = factory
        self.tally = tally
        self.per_address = per_address
        self.total = total
        self.header_timeout = header_timeout
        self.stall_timeout = stall_timeout
        self.ssl_context = ssl_context
        self._by_key: dict[str, dict[GuardedConnection, None]] = {}  # insertion order = age
        self._remote = 0  # admitted connections not from loopback
        self.by_handler: dict[Any, GuardedConnection] = {}  # aiohttp's protocol -> its guard

    def __call__(self) -> GuardedConnection:
        return GuardedConnection(self)

    @property
    def open_connections(self) -> int:
        return sum(len(conns) for conns in self._by_key.values())

    def connection_for(self, handler: Any) -> GuardedConnection | None:
        """The guard of aiohttp's protocol object (``request.protocol``)."""
        return self.by_handler.get(handler)

    def admit(self, conn: GuardedConnection) -> bool:
        mine = self._by_key.get(conn.key, {})
        if len(mine) >= self.per_address:
            self.tally.note(f"per-address-cap {conn.key}", f"admin API: {conn.key} already holds "
                            f"{self.per_address} connections; refusing more")
            return False
        if not conn.loopback and self._remote >= self.total and not self._evict_for(len(mine)):
            self.tally.note("total-cap", f"admin API: {self.total} connections open; refusing more")
            return False
        self._by_key.setdefault(conn.key, {})[conn] = None
        if not conn.loopback:
            self._remote += 1
        return True

    def _evict_for(self, newcomer_holds: int) -> bool:
        """Make room for a newcomer holding ``newcomer_holds`` connections: drop the oldest idle
        connection of the busiest remote address if that address holds more."""
        busiest = max((k for k, c in self._by_key.items() if c and not next(iter(c)).loopback),
                      key=lambda k: len(self._by_key[k]), default=None)
        if busiest is None or len(self._by_key[busiest]) <= newcomer_holds + 1:
            return False
        victim = next((c for c in self._by_key[busiest] if not c.in_request), None)
        if victim is None:
            return False
        victim.abort("evicted", "made room for another address")
        return True

    def release(self, conn: GuardedConnection) -> None:
        conns = self._by_key.get(conn.key)
        if conns is not None and conn in conns:
            del conns[conn]
            if not conn.loopback:
                self._remote -= 1
            if not conns:
                del self._by_key[conn.key]
        if conn.inner is not None:
            self.by_handler.pop(conn.inner, None)

    def close_all(self) -> None:
        """Abort every connection (shutdown)."""
        for conns in list(self._by_key.values()):
            for conn in list(conns):
                if conn.transport is not None:
                    conn.transport.abort()
                conn._release()
