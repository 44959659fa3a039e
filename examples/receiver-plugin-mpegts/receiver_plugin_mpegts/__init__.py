"""MPEG-TS over UDP or RTP: the template for third-party receiver plugins.

Push to the box with, for example::

    ffmpeg -re -i talk.mp4 -c:v libx264 -tune zerolatency -g 30 -c:a aac -f mpegts udp://BOX:5004
    ffmpeg -re -i talk.mp4 -c:v libx264 -tune zerolatency -g 30 -c:a aac -f rtp_mpegts rtp://BOX:5004

Any datagram size works (raw TS is treated as a byte stream), and RTP is recognised by itself.
The plugin object below only delegates: ``transport`` sorts datagrams by sender, ``session`` feeds
them to the core's sans-I/O MPEG-TS receiver (``receiver_core.media.mpegts.TsSources``) and turns
each sender into a core session. Decoding, compositing, PIN, moderation and status all come from
the core.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from receiver_core import (
    AuthDecision,
    IdleState,
    ListenerSpec,
    Overlay,
    OverlayKind,
    PluginContext,
    Screen,
    SectionRegistry,
    SessionRequest,
    hookimpl,
)

from .config import MpegTsConfig
from .manifest import manifest
from .transport import MpegTsProtocol, MpegTsService

__all__ = ["MpegTsPlugin", "manifest"]


class MpegTsPlugin:
    """The entry point (``mpegts = receiver_plugin_mpegts:MpegTsPlugin``); built once per box with its context."""

    manifest = manifest

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.service: MpegTsService | None = None

    @hookimpl
    def receiver_config_sections(self, registry: SectionRegistry) -> None:
        """Declare ``[plugin.mpegts]``."""
        registry.add("mpegts", MpegTsConfig, description="MPEG-TS over UDP/RTP")

    @hookimpl
    def receiver_startup(self) -> None:
        """Create the service; close every sender when the plugin unloads."""
        self.service = MpegTsService(self.ctx)
        self.ctx.on_unload(self.service.close)

    @hookimpl
    def receiver_listeners(self) -> list[ListenerSpec]:
        """One UDP socket for all senders."""
        service = self._running()
        return [ListenerSpec("udp", service.config.port, lambda: MpegTsProtocol(service), transport="udp")]

    @hookimpl
    def receiver_session_authorize(self, request: SessionRequest) -> AuthDecision | None:
        """UDP carries no PIN and proves no source address: senders from ``allowed_senders`` (loopback
        by default) are let in; every other sender needs a moderator's approval, PIN on or off."""
        if request.protocol != "mpegts":
            return None
        address = ipaddress.ip_address(request.peer_address)
        if any(address in ipaddress.ip_network(n, strict=False) for n in self._running().config.allowed_senders):
            return AuthDecision.allow()
        return AuthDecision.challenge(approval=True)

    @hookimpl
    def receiver_overlays(self, screen: Screen, state: IdleState) -> list[Overlay]:
        """How to push a stream to this box."""
        port = self.ctx.listener_port("udp")
        if port is None or not state.addresses:
            return []
        return [Overlay(OverlayKind.CONNECT, text=f"MPEG-TS / RTP:  udp://{state.addresses[0]}:{port}", order=50)]

    @hookimpl
    def receiver_status(self) -> dict[str, Any] | None:
        """Senders and their counters: bytes, RTP loss, resyncs, skipped bytes, continuity errors, dropped units."""
        return self.service.status() if self.service is not None else None

    def _running(self) -> MpegTsService:
        if self.service is None:
            raise RuntimeError("the MPEG-TS plugin is not started")
        return self.service
