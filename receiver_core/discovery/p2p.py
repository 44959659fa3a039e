"""The only Wi-Fi Direct owner: merges plugins' Wi-Fi Display subelements and device settings.

``WFDIEs`` is global to wpa_supplicant, so plugins never write it: they return subelements from
``receiver_wfd_subelements`` and this module merges them (a duplicate subelement id is refused
naming both plugins), writes the result once through a ``P2PBackend`` and restores the previous
value on exit.

Backends: ``NullP2P`` (no Wi-Fi Direct on this box; the default until the wpa_supplicant D-Bus
client lands with the Miracast plugin) and ``FakeP2P`` in ``receiver_core.testing``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import HookFailed
from ..model import P2PDeviceConfig, WfdSubelement

if TYPE_CHECKING:
    from ..box import Box

__all__ = ["P2PBackend", "NullP2P", "P2POwner", "merge_subelements"]

log = logging.getLogger(__name__)


class P2PBackend(Protocol):
    available: bool

    async def write(self, wfd_ies: bytes, device: P2PDeviceConfig) -> None:
        """Set ``WFDIEs`` and ``P2PDeviceConfig`` (remembering the previous values)."""

    async def restore(self) -> None:
        """Put back what was there before the receiver started."""


class NullP2P:
    """No Wi-Fi Direct: nothing is written, and the status says so."""

    available = False
    reason = "no Wi-Fi Direct backend (the wpa_supplicant D-Bus client comes with the Miracast plugin)"

    async def write(self, wfd_ies: bytes, device: P2PDeviceConfig) -> None:
        return None

    async def restore(self) -> None:
        return None


def merge_subelements(contributions: Sequence[tuple[str, Sequence[WfdSubelement]]]) -> tuple[bytes, list[str]]:
    """Concatenate subelements in id order; returns ``(bytes, errors)`` where errors name both plugins."""
    owners: dict[int, tuple[str, WfdSubelement]] = {}
    errors: list[str] = []
    for plugin, subelements in contributions:
        for sub in subelements:
            if sub.id in owners:
                first = owners[sub.id][0]
                errors.append(f"WFD subelement {sub.id} from {plugin} refused: already given by {first}")
                continue
            owners[sub.id] = (plugin, sub)
    return b"".join(owners[i][1].encode() for i in sorted(owners)), errors


class P2POwner:
    def __init__(self, receiver: Box, backend: P2PBackend) -> None:
        self._receiver = receiver
        self.backend = backend
        self.wfd_ies = b""
        self.device: P2PDeviceConfig | None = None
        self.errors: list[str] = []

    def collect(self) -> tuple[bytes, P2PDeviceConfig]:
        plugins = self._receiver.plugins
        contributions = []
        for plugin, subs in plugins.call_each("receiver_wfd_subelements", running_only=True):
            contributions.append((plugin, subs))
        wfd_ies, self.errors = merge_subelements(contributions)
        for error in self.errors:
            log.error("%s", error)
        device = P2PDeviceConfig(device_name=self._receiver.name)
        try:
            answer = plugins.call_first("receiver_p2p_device_config")
            if answer is not None:
                device = answer[1]
        except HookFailed as exc:
            log.error("P2P device config hook failed, using defaults: %s", exc)
        return wfd_ies, device

    async def refresh(self) -> None:
        wfd_ies, device = self.collect()
        if (wfd_ies, device) != (self.wfd_ies, self.device):
            self.wfd_ies, self.device = wfd_ies, device
            await self.backend.write(wfd_ies, device)

    async def close(self) -> None:
        await self.backend.restore()

    def status(self) -> dict[str, Any]:
        return {
            "available": self.backend.available,
            "reason": getattr(self.backend, "reason", ""),
            "wfd_ies": self.wfd_ies.hex(),
            "device_name": self.device.device_name if self.device else None,
            "errors": list(self.errors),
        }
