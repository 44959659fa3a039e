"""The AirPlay plugin while the box runs: identity, advertisement, control connections, status."""

from __future__ import annotations

import collections
import ipaddress
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from .advert import Advert
from .config import AirPlayConfig
from .connection import ControlConnection
from .fairplay import FairPlayProvider
from .identity import Identity, load_or_create
from .mirror.service import MirrorService
from .pairings import Pairings
from .raop_crypto import load_rsa_key
from .video.policy import Network, parse_networks
from .video.reverse import ReverseChannels

__all__ = ["AirPlayService", "PairingRateLimit"]

log = logging.getLogger(__name__)

LAN_ROLES = ("wired", "wifi", "ap")


class AirPlayService:
    def __init__(self, ctx: Any, config: AirPlayConfig,
                 fairplay: tuple[str, FairPlayProvider] | None = None) -> None:
        self.ctx = ctx
        self.config = config
        self.mirror = MirrorService(ctx, port=config.mirror_port, timeout=config.mirror_timeout,
                                    h265=config.mirror_h265, homekit=config.homekit_mirroring, provider=fairplay)
        self.identity: Identity = load_or_create(Path(ctx.state_dir))
        self.pairings = Pairings(Path(ctx.state_dir))
        self.rsa_key = load_rsa_key(Path(config.rsa_key_file)) if config.rsa_key_file else None
        self.connections: set[ControlConnection] = set()
        self.accepted = 0
        self.connections_refused = 0
        self.pairing_limit = PairingRateLimit()
        self.reverse = ReverseChannels()  # POST /reverse event channels of video senders: video/reverse.py

    @property
    def pin(self) -> Any:
        return self.ctx.sessions.pin

    @property
    def name(self) -> str:
        return self.config.name or self.ctx.box.name

    @property
    def advert(self) -> Advert:
        return Advert(self.identity, self.name, self.pin.required, rsa=self.rsa_key is not None,
                      extra_features=self.mirror.features)

    def video_networks(self) -> tuple[list[Network], list[Network]]:
        """(admin-allowed networks, the box's own LAN ranges) for the video-URL policy."""
        lan = [ipaddress.ip_interface(address).network
               for interface in self.ctx.network.snapshot.with_roles(LAN_ROLES) for address in interface.addresses]
        return parse_networks(self.config.video_url_networks), lan

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> Any:
        return self.ctx.spawn(coro, name=name)

    def connection(self) -> ControlConnection:
        self.accepted += 1
        return ControlConnection(self)

    def close(self) -> None:
        for connection in list(self.connections):
            connection.close()

    def status(self) -> dict[str, Any]:
        return {
            "deviceid": self.identity.device_id,
            "connections_accepted": self.accepted,
            "connections_refused": self.connections_refused,
            "senders": [c.status() for c in self.connections],
            "rsa": self.rsa_key is not None,
            "paired_controllers": len(self.pairings),
            "mirroring": self.mirror.status(),
            "pairing_attempts_refused": self.pairing_limit.refused,
        }


class PairingRateLimit:
    """Each pair-setup or pair-verify start costs the box a 3072-bit SRP or an X25519 computation:
    at most ``limit`` starts per sender address in ``window`` seconds, whatever the PIN setting."""

    def __init__(self, limit: int = 10, window: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self.refused = 0
        self._starts: dict[str, collections.deque[float]] = {}

    def allow(self, address: str) -> bool:
        now = self.clock()
        starts = self._starts.setdefault(address, collections.deque())
        while starts and now - starts[0] > self.window:
            starts.popleft()
        if len(starts) >= self.limit:
            self.refused += 1
            return False
        starts.append(now)
        if len(self._starts) > 4096:  # forget idle senders: the table stays small under a spoofed flood
            for key in [k for k, v in self._starts.items() if not v or now - v[-1] > self.window]:
                del self._starts[key]
        return True
