"""MPEG-TS over UDP or RTP: the template for third-party receiver plugins.

Push to the box with, for example::

    ffmpeg -re -i talk.mp4 -c:v libx264 -tune zerolatency -g 30 -c:a aac -f mpegts udp://BOX:5004
    ffmpeg -re -i talk.mp4 -c:v libx264 -tune zerolatency -g 30 -c:a aac -f rtp_mpegts rtp://BOX:5004

The hooks below only delegate: ``wire`` parses datagrams (sans-I/O), ``transport`` sorts them by
sender, ``session`` turns each sender into a core session, ``demux`` demuxes with PyAV. Decoding,
compositing, PIN, moderation and status all come from the core.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from receiver_core import AuthDecision, ListenerSpec, Overlay, OverlayKind, SessionRequest, hookimpl
from receiver_core.config.schema import SectionRegistry

from .config import MpegTsConfig
from .manifest import manifest
from .transport import MpegTsProtocol, MpegTsService

__all__ = ["manifest"]

_SERVICE = "mpegts"


def _service(receiver: Any) -> MpegTsService:
    return receiver.plugin_state.setdefault(_SERVICE, MpegTsService(receiver))


@hookimpl
def receiver_config_sections(registry: SectionRegistry) -> None:
    """Declare ``[plugin.mpegts]``."""
    registry.add("mpegts", MpegTsConfig, description="MPEG-TS over UDP/RTP")


@hookimpl
def receiver_startup(receiver: Any) -> None:
    """Create the service state; close every sender when the plugin unloads."""
    service = _service(receiver)
    receiver.on_unload(service.close)


@hookimpl
def receiver_listeners(receiver: Any) -> list[ListenerSpec]:
    """One UDP socket for all senders."""
    service = _service(receiver)
    return [ListenerSpec("udp", service.config.port, lambda: MpegTsProtocol(service), transport="udp")]


@hookimpl
def receiver_session_authorize(receiver: Any, request: SessionRequest) -> AuthDecision | None:
    """UDP carries no PIN and proves no source address: senders from ``allowed_senders`` (loopback
    by default) are let in; every other sender needs a moderator's approval, PIN on or off."""
    if request.protocol != "mpegts":
        return None
    address = ipaddress.ip_address(request.peer_address)
    if any(address in ipaddress.ip_network(n, strict=False) for n in _service(receiver).config.allowed_senders):
        return AuthDecision.allow()
    return AuthDecision.challenge(approval=True)


@hookimpl
def receiver_overlays(receiver: Any, screen: Any, state: Any) -> list[Overlay]:
    """How to push a stream to this box."""
    port = receiver.listeners.port("mpegts", "udp")
    if port is None or not state.addresses:
        return []
    return [Overlay(OverlayKind.CONNECT, text=f"MPEG-TS / RTP:  udp://{state.addresses[0]}:{port}", order=50)]


@hookimpl
def receiver_status(receiver: Any) -> dict[str, Any]:
    """Senders, bytes, RTP loss and rejected datagrams."""
    return _service(receiver).status()
