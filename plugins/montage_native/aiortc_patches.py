"""The small, documented patch layer over aiortc/aioice, pinned to the versions below.

Each patch checks that what it replaces still looks as expected and raises ``PatchMismatch``
otherwise, so an aiortc upgrade fails loudly in the unit tests (tests/unit/montage_native) instead
of silently running unpatched. Imported, and applied, by ``engine.Engine`` with the first peer:
importing this module imports aiortc.

Patches:

* ``host_addresses``: aioice gathers host candidates on every interface and drops ``127.0.0.1``;
  the box offers candidates only on the addresses it advertises on (loopback included in tests).
* ``rtx_routing``: aiortc registers a receiver's media SSRC with its RTP router but not its RTX
  SSRC, so retransmissions are routed by payload type alone, and discarded as soon as two video
  receivers share the payload types (a guest's screen and camera): the screen's lost packets never
  came back. The patch registers the RTX SSRC (the offer's FID group) with its receiver too.

The video receive-path fixes (marker-bit frame completion, loss deadline, timed NACKs) are the
other part of this layer, in ``receive_path``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import aioice
import aioice.ice
import aiortc
import aiortc.rtcdtlstransport

from .engine import AIOICE_VERSION, AIORTC_VERSION, PatchMismatch

__all__ = ["PatchMismatch", "host_addresses", "rtx_routing", "check_versions"]


def check_versions() -> None:
    """Refuse other aiortc versions than the one the patches were written against (as imported)."""
    if aiortc.__version__ != AIORTC_VERSION:
        raise PatchMismatch(f"aiortc {aiortc.__version__} installed, patches written for {AIORTC_VERSION}")
    if aioice.__version__ != AIOICE_VERSION:
        raise PatchMismatch(f"aioice {aioice.__version__} installed, patches written for {AIOICE_VERSION}")


_original_get_host_addresses = aioice.ice.get_host_addresses


def host_addresses(provider: Callable[[], list[str]] | None) -> None:
    """Gather host candidates only on ``provider()`` (``None`` restores aioice's own choice)."""
    signature = inspect.signature(_original_get_host_addresses)
    if list(signature.parameters) != ["use_ipv4", "use_ipv6"]:
        raise PatchMismatch(f"aioice.ice.get_host_addresses changed: {signature}")
    if provider is None:
        aioice.ice.get_host_addresses = _original_get_host_addresses
        return

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in provider() if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = get_host_addresses


_Transport = aiortc.rtcdtlstransport.RTCDtlsTransport
_original_register_rtp_receiver = _Transport._register_rtp_receiver


def rtx_routing(on: bool) -> None:
    """Route each receiver's RTX packets by their SSRC (``on``), or restore aiortc's own registration."""
    signature = inspect.signature(_original_register_rtp_receiver)
    if list(signature.parameters) != ["self", "receiver", "parameters"]:
        raise PatchMismatch(f"RTCDtlsTransport._register_rtp_receiver changed: {signature}")
    if not hasattr(aiortc.rtcdtlstransport.RtpRouter(), "ssrc_table"):
        raise PatchMismatch("aiortc's RtpRouter has no ssrc_table any more")
    if not on:
        _Transport._register_rtp_receiver = _original_register_rtp_receiver  # type: ignore[method-assign]
        return

    def _register_rtp_receiver(self: Any, receiver: Any, parameters: Any) -> None:
        _original_register_rtp_receiver(self, receiver, parameters)
        for encoding in parameters.encodings:
            if encoding.rtx is not None:
                self._rtp_router.ssrc_table[encoding.rtx.ssrc] = receiver

    _Transport._register_rtp_receiver = _register_rtp_receiver  # type: ignore[method-assign]
