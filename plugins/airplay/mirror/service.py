"""Mirroring while the box runs: the FairPlay provider (if a plugin offers one), the mirror data
listener, the mirror SETUPs waiting for their data connection, and the feature bits it earns."""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from receiver_core import ListenerSpec

from ..fairplay import FairPlayProvider
from .session import MirrorConnection

if TYPE_CHECKING:
    from .control import PendingMirror

__all__ = ["MirrorService", "BIT_SCREEN", "BIT_FAIRPLAY", "BIT_SCREEN_MULTI_CODEC"]

log = logging.getLogger(__name__)

BIT_SCREEN = 7
BIT_FAIRPLAY = 14
BIT_LEGACY_PAIRING = 27
BIT_SCREEN_MULTI_CODEC = 42  # H.265
PENDING_SECONDS = 30.0
MAX_PENDING_PER_SENDER = 4


class MirrorService:
    def __init__(self, ctx: Any, *, port: int, timeout: float, h265: bool, homekit: bool,
                 provider: tuple[str, FairPlayProvider] | None) -> None:
        self.ctx = ctx
        self.port = port
        self.timeout = timeout
        self.h265 = h265
        self.homekit = homekit
        self.provider = provider
        self._pending: dict[str, collections.deque[tuple[float, PendingMirror]]] = {}
        self.connections: set[MirrorConnection] = set()
        if provider is None:
            log.info("AirPlay: no FairPlay provider plugin installed (hook receiver_airplay_fairplay): legacy "
                     "screen mirroring is off and not advertised; /fp-setup is answered 501")
        else:
            log.info("AirPlay: FairPlay provider from plugin %r: legacy screen mirroring on", provider[0])
        if homekit:
            log.warning("AirPlay: HomeKit-mode mirroring is on: reported by other projects, NOT verified "
                        "against a real iPhone or Mac")

    @property
    def enabled(self) -> bool:
        return self.provider is not None or self.homekit

    @property
    def features(self) -> int:
        """The feature bits mirroring earns: none without a FairPlay provider or HomeKit mode."""
        if not self.enabled:
            return 0
        bits = 1 << BIT_SCREEN
        if self.provider is not None:
            bits |= 1 << BIT_FAIRPLAY | 1 << BIT_LEGACY_PAIRING
        if self.h265:
            bits |= 1 << BIT_SCREEN_MULTI_CODEC
        return bits

    def listener(self) -> ListenerSpec:
        return ListenerSpec("mirror", self.port, self.connection)

    @property
    def data_port(self) -> int | None:
        port: int | None = self.ctx.listener_port("mirror")
        return port

    def connection(self) -> MirrorConnection:
        return MirrorConnection(self)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> Any:
        return self.ctx.spawn(coro, name=name)

    def expect(self, address: str, pending: PendingMirror) -> None:
        """A type-110 SETUP was answered: its data connection will come from ``address``."""
        queue = self._pending.setdefault(address, collections.deque(maxlen=MAX_PENDING_PER_SENDER))
        queue.append((time.monotonic(), pending))

    def claim(self, address: str) -> PendingMirror | None:
        queue = self._pending.get(address)
        now = time.monotonic()
        while queue:
            since, pending = queue.popleft()
            if now - since <= PENDING_SECONDS and not pending.control.closed:
                return pending
        self._pending.pop(address, None)
        return None

    def forget(self, pending: PendingMirror) -> None:
        for queue in self._pending.values():
            for item in [i for i in queue if i[1] is pending]:
                queue.remove(item)

    def status(self) -> dict[str, Any]:
        return {"fairplay_provider": self.provider[0] if self.provider else None, "homekit_mirroring": self.homekit,
                "h265": self.h265, "data_port": self.data_port}
