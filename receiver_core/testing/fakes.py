"""Stateful fakes at the edges (mDNS, Wi-Fi Direct, netlink, display) for the receiver's tests
and for third-party plugin authors."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
import numpy as np

from ..discovery.mdns import Published
from ..display.registry import DisplayBackendRegistry, OutputSettings
from ..hookspecs import hookimpl
from ..model import NetChange, NetInterface, NetSnapshot, P2PDeviceConfig, Screen
from ..net.monitor import diff_snapshots

__all__ = ["FakeMdns", "FakeP2P", "FakeNet", "FakeClock", "RecordingDisplay", "RecordingDisplayPlugin"]


class FakeMdns:
    """Records what would be on the air. ``taken`` holds instance names another host already uses."""

    def __init__(self, taken: Sequence[str] = ()) -> None:
        self.taken = set(taken)
        self.services: dict[tuple[str, str], tuple[Published, str]] = {}
        self.events: list[tuple[str, str, str]] = []  # (op, service type, published name)
        self.interfaces: list[str] = []
        self.closed = False

    async def set_interfaces(self, addresses: Sequence[str]) -> None:
        self.interfaces = list(addresses)
        self.events.append(("interfaces", ",".join(addresses), ""))

    async def register(self, item: Published, server: str) -> str:
        name, n = item.ad.instance, 2
        while name in self.taken:
            name, n = f"{item.ad.instance}-{n}", n + 1
        self.services[item.key] = (item, name)
        self.events.append(("register", item.ad.service_type, name))
        return name

    async def update(self, item: Published, server: str) -> None:
        name = self.services[item.key][1]
        self.services[item.key] = (item, name)
        self.events.append(("update", item.ad.service_type, name))

    async def unregister(self, key: tuple[str, str]) -> None:
        _item, name = self.services.pop(key)
        self.events.append(("goodbye", key[0], name))

    async def close(self) -> None:
        for key in list(self.services):
            await self.unregister(key)
        self.closed = True

    def names(self, service_type: str | None = None) -> list[str]:
        return sorted(name for (stype, _i), (_p, name) in self.services.items()
                      if service_type is None or stype == service_type)


class FakeP2P:
    """Records what would be written to wpa_supplicant's ``WFDIEs`` and ``P2PDeviceConfig``."""

    available = True
    reason = "fake"

    def __init__(self) -> None:
        self.writes: list[tuple[bytes, P2PDeviceConfig]] = []
        self.restored = False

    async def write(self, wfd_ies: bytes, device: P2PDeviceConfig) -> None:
        self.writes.append((wfd_ies, device))

    async def restore(self) -> None:
        self.restored = True


class FakeNet:
    """A ``NetSource`` driven by the test: change interfaces, then ``await net.apply()``."""

    def __init__(self, interfaces: Sequence[NetInterface] = ()) -> None:
        self.snapshot = NetSnapshot(tuple(interfaces))
        self._pending = self.snapshot
        self._on_change: Callable[[NetChange], Awaitable[None] | None] | None = None
        self.stopped = False

    @classmethod
    def single(cls, name: str, address: str, *, role: str = "wired", prefix: int = 24) -> FakeNet:
        lo = NetInterface(1, "lo", "loopback", True, "00:00:00:00:00:00", "", ("127.0.0.1/8",))
        eth = NetInterface(2, name, role, True, "02:00:00:00:00:01", "veth", (f"{address}/{prefix}",))
        return cls([lo, eth])

    async def start(self, on_change: Callable[[NetChange], Awaitable[None] | None]) -> NetSnapshot:
        self._on_change = on_change
        return self.snapshot

    async def stop(self) -> None:
        self.stopped = True

    def _edit(self, name: str, **changes: Any) -> None:
        interfaces = [attrs.evolve(i, **changes) if i.name == name else i for i in self._pending.interfaces]
        self._pending = NetSnapshot(tuple(interfaces))

    def set_addresses(self, name: str, *addresses: str) -> None:
        self._edit(name, addresses=addresses)

    def set_link(self, name: str, up: bool) -> None:
        self._edit(name, up=up)

    def add(self, interface: NetInterface) -> None:
        self._pending = NetSnapshot(self._pending.interfaces + (interface,))

    def remove(self, name: str) -> None:
        self._pending = NetSnapshot(tuple(i for i in self._pending.interfaces if i.name != name))

    async def apply(self) -> NetChange:
        """Deliver the pending edits as one debounced change, as the real monitor would."""
        change = diff_snapshots(self.snapshot, self._pending)
        self.snapshot = self._pending
        if change and self._on_change is not None:
            result = self._on_change(change)
            if result is not None:
                await result
        return change


class FakeClock:
    """A monotonic clock the test moves by hand (for lockouts and timers)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingDisplay:
    """A display backend that keeps every frame's time and the latest composite."""

    name = "recording"

    def __init__(self, settings: OutputSettings | None = None) -> None:
        self.screen: Screen | None = None
        self.frames = 0
        self.latest: np.ndarray | None = None
        self.presented = threading.Event()
        self._lock = threading.Lock()

    def open(self, screen: Screen) -> None:
        self.screen = screen

    def present(self, canvas: np.ndarray) -> None:
        with self._lock:
            self.latest = canvas.copy()
            self.frames += 1
        self.presented.set()

    def close(self) -> None:
        return None

    def status(self) -> dict[str, Any]:
        return {"backend": self.name, "frames": self.frames}


class RecordingDisplayPlugin:
    """Register with ``plugins={"recording_display": RecordingDisplayPlugin()}`` and set
    ``[display] backend = "recording"``; the instance is ``plugin.display`` once the box runs."""

    def __init__(self) -> None:
        self.display: RecordingDisplay | None = None

    @hookimpl
    def receiver_register_display_backends(self, registry: DisplayBackendRegistry) -> None:
        def factory(settings: OutputSettings) -> RecordingDisplay:
            self.display = RecordingDisplay(settings)
            return self.display
        registry.add("recording", factory, description="test recorder")
