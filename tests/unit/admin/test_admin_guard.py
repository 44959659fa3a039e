"""The connection guard with fake transports: caps per address and overall, eviction, timeouts."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from receiver_core.admin.guard import ConnectionGuard, GuardedConnection, address_key
from receiver_core.admin.tally import ErrorTally


class FakeTransport(asyncio.Transport):
    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address
        self.aborted = False
        self.protocol: GuardedConnection | None = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return (self.address, 40000) if name == "peername" else default

    def abort(self) -> None:
        if not self.aborted:
            self.aborted = True
            if self.protocol is not None:
                asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def is_closing(self) -> bool:
        return self.aborted


class Inner(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.lost = False

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


def make_guard(**kwargs: Any) -> ConnectionGuard:
    return ConnectionGuard(Inner, ErrorTally(logging.getLogger("test.guard")), **kwargs)


def connect(guard: ConnectionGuard, address: str) -> tuple[GuardedConnection, FakeTransport]:
    conn = guard()
    transport = FakeTransport(address)
    transport.protocol = conn
    conn.connection_made(transport)
    return conn, transport


def test_address_keys() -> None:
    assert address_key("192.0.2.7") == ("192.0.2.7", False)
    assert address_key("127.0.0.5") == ("127.0.0.5", True)
    assert address_key("::1") == ("::1", True)
    assert address_key("::ffff:192.0.2.7") == ("192.0.2.7", False)
    assert address_key("2001:db8:1:2:aaaa::1")[0] == address_key("2001:db8:1:2:bbbb::9")[0] == "2001:db8:1:2::/64"
    assert address_key("fe80::1%eth0")[0] == "fe80::/64"
    assert address_key(None) == ("?", False)


async def test_per_address_cap_and_data_forwarding() -> None:
    guard = make_guard(per_address=3, total=100)
    conns = [connect(guard, "192.0.2.66") for _ in range(5)]
    assert [t.aborted for _, t in conns] == [False, False, False, True, True]
    assert guard.open_connections == 3
    conn, transport = conns[0]
    conn.data_received(b"GET / HTTP/1.1\r\n")
    assert conn.inner.data == b"GET / HTTP/1.1\r\n"
    other, other_transport = connect(guard, "192.0.2.77")
    assert not other_transport.aborted
    await asyncio.sleep(0)  # aborted connections report connection_lost
    assert guard.tally.counts == {"per-address-cap 192.0.2.66": 2}


async def test_total_cap_evicts_an_idle_connection_of_the_busiest_address() -> None:
    guard = make_guard(per_address=10, total=10)
    attackers = [connect(guard, f"192.0.2.{66 + i % 2}") for i in range(10)]  # 5 each from two addresses
    attackers[0][0].request_started()   # the oldest of .66 is in a request: it is not the one to go
    admin, admin_transport = connect(guard, "198.51.100.5")
    assert not admin_transport.aborted
    assert [t.aborted for _, t in attackers] == [False, False, True] + [False] * 7  # .66's oldest idle one
    await asyncio.sleep(0)
    assert guard.open_connections == 10
    # equal shares: nobody is evicted for a newcomer that already holds as many
    for _ in range(4):
        connect(guard, "198.51.100.5")
    await asyncio.sleep(0)
    _, late = connect(guard, "198.51.100.5")
    assert late.aborted
    # loopback is never refused for the total
    _, local = connect(guard, "127.0.0.1")
    assert not local.aborted


async def test_header_and_stall_timeouts() -> None:
    guard = make_guard(header_timeout=0.05, stall_timeout=0.05)
    slow, slow_transport = connect(guard, "192.0.2.66")
    quick, quick_transport = connect(guard, "192.0.2.67")
    quick.request_started()
    await asyncio.sleep(0.15)
    assert slow_transport.aborted and slow.inner is None and not quick_transport.aborted
    quick.pause_writing()   # the client stopped reading our answer
    await asyncio.sleep(0.15)
    assert quick_transport.aborted
    reader, reader_transport = connect(guard, "192.0.2.68")
    reader.request_started()
    reader.pause_writing()
    await asyncio.sleep(0.02)
    reader.resume_writing()
    await asyncio.sleep(0.1)
    assert not reader_transport.aborted
    assert set(guard.tally.counts) == {"header-timeout", "stall-timeout"}
    guard.close_all()
    assert reader_transport.aborted and guard.open_connections == 0
