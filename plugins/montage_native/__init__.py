"""Native browser sharing: the box's HTTPS join page, WebSocket signalling and WebRTC (aiortc).

The hooks only delegate: ``signalling``/``conversation`` are the sans-I/O message set and order,
``web`` the aiohttp app and per-browser ``Client``, ``peer`` one aiortc peer connection feeding the
core, ``tls`` the certificate and TLS hand-over, ``receive_path``/``aiortc_patches`` the pinned
aiortc patch layer, ``service`` ties them to the sockets the core binds. ``engine`` is the only
door to aiortc: it loads aiortc (and PyAV/FFmpeg) and applies the patches with the first peer, so an
idle box serves its join page without them.
"""

from __future__ import annotations

from typing import Any

from receiver_core import (
    IdleState,
    ListenerSpec,
    Overlay,
    OverlayKind,
    PluginContext,
    Screen,
    SectionRegistry,
    Session,
    hookimpl,
)

from .config import NativeConfig
from .host import ContextHost
from .manifest import manifest
from .service import HTTPS, NativeService

__all__ = ["NativePlugin", "manifest"]


class NativePlugin:
    """Entry point ``montage_native = receiver_plugins.montage_native:NativePlugin``."""

    manifest = manifest

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.service: NativeService | None = None

    @hookimpl
    def receiver_config_sections(self, registry: SectionRegistry) -> None:
        """Declare ``[plugin.montage_native]``."""
        registry.add("montage_native", NativeConfig, description="Browser sharing over WebRTC")

    @hookimpl
    async def receiver_startup(self) -> None:
        """TLS material and the web apps (aiortc and its patches come with the first peer); all close on unload."""
        cfg = self.ctx.config(NativeConfig)
        service = NativeService(ContextHost(self.ctx, cfg), cfg, self.ctx.state_dir, box_name=self.ctx.box.name,
                                https_port=lambda: self.ctx.listener_port(HTTPS),
                                # ICE host candidates only where the box advertises (or where the admin says)
                                ice_addresses=lambda: list(cfg.ice_addresses) or self.ctx.network.advertised_addresses(),
                                log=self.ctx.log)
        await service.start()
        self.service = service
        self.ctx.on_unload(self._unload)

    async def _unload(self) -> None:
        if self.service is not None:
            await self.service.close()

    @hookimpl
    def receiver_listeners(self) -> list[ListenerSpec]:
        """HTTPS (join page + signalling) and the plain-HTTP redirect; the core binds both."""
        if self.service is None:
            raise RuntimeError("the native plugin is not started")
        return self.service.listener_specs()

    @hookimpl
    def receiver_overlays(self, screen: Screen, state: IdleState) -> list[Overlay]:
        """The join address as a line and a QR code, with the meeting ID filled in."""
        port = self.ctx.listener_port(HTTPS)
        if port is None or not state.addresses:
            return []
        suffix = "" if port == 443 else f":{port}"
        url = f"https://{state.addresses[0]}{suffix}/"
        link = f"{url}?m={state.meeting_id}" if state.meeting_id else url
        return [Overlay(OverlayKind.CONNECT, text=f"Browser:  {url}", order=10),
                Overlay(OverlayKind.QR, data=link, order=10)]

    @hookimpl
    async def receiver_session_started(self, session: Session) -> None:
        """A queued browser went on screen: its page says so."""
        if self.service is not None and self.service.web is not None and session.protocol == self.ctx.name:
            await self.service.web.session_started(session.id)

    @hookimpl
    def receiver_status(self) -> dict[str, Any] | None:
        """Joins, refusals, bad messages and each browser's phase and frame counts."""
        return self.service.status() if self.service is not None else None
