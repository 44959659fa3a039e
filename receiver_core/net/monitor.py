"""Network interfaces through pyroute2 netlink: snapshots, roles, debounced change events.

The monitor keeps one bound netlink socket for events and dumps links and addresses with a second
socket after every burst of events (trailing debounce, bounded by ``4 × debounce``), then emits the
difference as a ``NetChange``. Dumping instead of applying events one by one keeps the state exact
whatever order the kernel reports things in.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from ..model import NetChange, NetInterface, NetSnapshot

__all__ = ["NetSource", "NetlinkMonitor", "classify", "diff_snapshots"]

log = logging.getLogger(__name__)

IFF_UP = 0x1
IFF_LOOPBACK = 0x8
IFF_LOWER_UP = 0x10000
_DOWN_OPERSTATES = {"DOWN", "LOWERLAYERDOWN", "NOTPRESENT"}

ChangeCallback = Callable[[NetChange], Awaitable[None] | None]


class NetSource(Protocol):
    """Where the core learns about interfaces: ``NetlinkMonitor`` on a box, ``FakeNet`` in tests."""

    snapshot: NetSnapshot

    async def start(self, on_change: ChangeCallback) -> NetSnapshot:
        """Take the first snapshot, then call ``on_change`` after every debounced change."""

    async def stop(self) -> None:
        """Stop watching."""


def classify(name: str, *, loopback: bool, wireless: bool, roles: Mapping[str, str]) -> str:
    """Role of an interface: config patterns first, then loopback, p2p-*, wireless, else wired."""
    if loopback:
        return "loopback"
    for pattern, role in roles.items():
        if fnmatch.fnmatchcase(name, pattern):
            return role
    if name.startswith("p2p-"):
        return "p2p"
    if wireless:
        return "wifi"
    return "wired"


def diff_snapshots(old: NetSnapshot, new: NetSnapshot) -> NetChange:
    before = {i.name: i for i in old.interfaces}
    after = {i.name: i for i in new.interfaces}
    return NetChange(
        added=tuple(n for n in after if n not in before),
        removed=tuple(n for n in before if n not in after),
        changed=tuple(n for n in after if n in before and after[n] != before[n]),
        snapshot=new,
    )


def _is_wireless(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}/wireless") or os.path.exists(f"/sys/class/net/{name}/phy80211")


class NetlinkMonitor:
    """The real ``NetSource``: pyroute2 ``AsyncIPRoute`` in the current network namespace."""

    def __init__(self, roles: Mapping[str, str] | None = None, debounce: float = 0.3) -> None:
        self.roles = dict(roles or {})
        self.debounce = debounce
        self.snapshot = NetSnapshot()
        self.events_seen = 0
        self._events: Any = None
        self._task: asyncio.Task[None] | None = None
        self._on_change: ChangeCallback | None = None

    async def dump(self) -> NetSnapshot:
        """One consistent picture of links and addresses."""
        from pyroute2 import AsyncIPRoute

        async with AsyncIPRoute() as ipr:
            links = [link async for link in await ipr.get_links()]
            addrs = [addr async for addr in await ipr.get_addr()]
        by_index: dict[int, list[str]] = {}
        for addr in addrs:
            if addr.get("flags", 0) & 0x40:  # IFA_F_TENTATIVE: not usable yet
                continue
            ip = addr.get("IFA_LOCAL") or addr.get("IFA_ADDRESS") or addr.get("address")
            if ip:
                by_index.setdefault(addr["index"], []).append(f"{ip}/{addr['prefixlen']}")
        interfaces = []
        for link in links:
            name = link.get("ifname")
            flags = link.get("flags", 0)
            operstate = link.get("operstate") or link.get("state") or ""
            # carrier (IFF_LOWER_UP) is current at once; operstate follows through the kernel's
            # linkwatch, up to a second later, and would delay every "link up" by that much
            carrier = bool(flags & IFF_LOWER_UP)
            up = bool(flags & IFF_UP) and (carrier or str(operstate).upper() not in _DOWN_OPERSTATES)
            kind = link.get(("linkinfo", "kind")) or ""
            interfaces.append(NetInterface(
                index=link["index"],
                name=name,
                role=classify(name, loopback=bool(flags & IFF_LOOPBACK), wireless=_is_wireless(name), roles=self.roles),
                up=up,
                mac=link.get("address") or "",
                kind=kind,
                addresses=tuple(sorted(by_index.get(link["index"], []))),
            ))
        return NetSnapshot(tuple(sorted(interfaces, key=lambda i: i.index)))

    async def start(self, on_change: ChangeCallback) -> NetSnapshot:
        from pyroute2 import AsyncIPRoute

        self._on_change = on_change
        self._events = AsyncIPRoute()
        await self._events.bind()  # subscribe before the first dump: nothing slips between them
        self.snapshot = await self.dump()
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="net-monitor")
        return self.snapshot

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._events is not None:
            self._events.close()
            self._events = None

    async def _watch(self) -> None:
        wake = asyncio.Event()
        reader = asyncio.get_running_loop().create_task(self._read_events(wake))
        try:
            while True:
                await wake.wait()
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 4 * self.debounce
                # trailing debounce: wait until the burst is quiet (or the bound is reached)
                while True:
                    wake.clear()
                    quiet = max(0.0, min(self.debounce, deadline - loop.time()))
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that arrives
                    # as the event fires or the timer expires, and stop() then waits forever
                    try:
                        async with asyncio.timeout(quiet):
                            await wake.wait()
                    except TimeoutError:
                        break
                    if loop.time() >= deadline:
                        break
                wake.clear()
                await self._refresh()
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _read_events(self, wake: asyncio.Event) -> None:
        while True:
            async for _msg in self._events.get():
                self.events_seen += 1
                wake.set()

    async def _refresh(self) -> None:
        try:
            new = await self.dump()
        except OSError as exc:
            log.error("netlink dump failed: %s", exc)
            return
        change = diff_snapshots(self.snapshot, new)
        self.snapshot = new
        if change and self._on_change is not None:
            log.info("network changed: added %s removed %s changed %s", change.added, change.removed, change.changed)
            try:
                result = self._on_change(change)
                if result is not None:
                    await result
            except Exception:  # the watch must survive whatever a consumer does with the change
                log.exception("handling a network change failed")
