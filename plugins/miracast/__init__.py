"""Miracast receiver plugin: the Wi-Fi Display RTSP sink and Miracast over Infrastructure (MS-MICE).

The class below only delegates: ``rtsp``/``params``/``wfd`` speak WFD (sans-I/O), ``mice`` parses
TCP 7250 messages (sans-I/O), ``connection`` is the RTSP client + RTP receiver + watchdog, ``session``
turns each source into a core session, ``service`` holds the plugin's state, ``cli`` is the
``miracast connect`` command. Wi-Fi Direct (P2P) is
part 2 of the work and not wired yet.
"""

from __future__ import annotations

from typing import Any

from receiver_core import (
    AuthDecision,
    CliCommand,
    IdleState,
    ListenerSpec,
    NetInterface,
    Overlay,
    OverlayKind,
    PluginContext,
    Route,
    Screen,
    SectionRegistry,
    ServiceAdvertisement,
    SessionRequest,
    hookimpl,
)

from .cli import COMMANDS
from .config import MiracastConfig
from .manifest import manifest
from .service import MiracastService

__all__ = ["MiracastPlugin", "manifest"]


class MiracastPlugin:
    """The entry point (``miracast = receiver_plugins.miracast:MiracastPlugin``)."""

    manifest = manifest

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.service: MiracastService | None = None

    @hookimpl
    def receiver_config_sections(self, registry: SectionRegistry) -> None:
        """Declare ``[plugin.miracast]``."""
        registry.add("miracast", MiracastConfig, description="Miracast over Wi-Fi Direct and infrastructure")

    @hookimpl
    def receiver_startup(self) -> None:
        """Load the settings and the box's MS-MICE container id; stop every source on unload."""
        self.service = MiracastService(self.ctx, self.ctx.config(MiracastConfig))
        self.ctx.on_unload(self.service.close)

    @hookimpl
    def receiver_listeners(self) -> list[ListenerSpec]:
        """TCP 7250 for MS-MICE sources (when ``infrastructure`` is on)."""
        service = self._running()
        if not service.config.infrastructure:
            return []
        return [ListenerSpec("mice", service.config.mice_port, service.mice_protocol)]

    @hookimpl
    def receiver_mdns_services(self, interface: NetInterface) -> list[ServiceAdvertisement]:
        """``<box name>._display._tcp`` on the MICE port with the stable ``container_id``."""
        service = self._running()
        port = self.ctx.listener_port("mice")
        if not service.config.infrastructure or port is None:
            return []
        return service.advertisements(self.ctx.box.name, port)

    @hookimpl
    def receiver_session_authorize(self, request: SessionRequest) -> AuthDecision | None:
        """Admin manual connects pass; MS-MICE (no PIN on the wire) needs approval when the PIN is on."""
        return self._running().authorize(request, self.ctx.sessions.pin.required)

    @hookimpl
    def receiver_overlays(self, screen: Screen, state: IdleState) -> list[Overlay]:
        """How Windows finds the box over the network."""
        if self.service is None or not self.service.config.infrastructure or self.ctx.listener_port("mice") is None:
            return []
        return [Overlay(OverlayKind.CONNECT, text=f"Miracast (Windows: Win+K):  {self.ctx.box.name}", order=40)]

    @hookimpl
    def receiver_admin_routes(self) -> list[Route]:
        """``POST /plugins/miracast/connect`` ``{"target": "HOST[:PORT]"}``: connect to a source (admin only)."""
        return [Route("POST", "/connect", self._connect_route)]

    @hookimpl
    def receiver_cli_commands(self) -> list[CliCommand]:
        """``montage-receiver miracast connect HOST[:PORT]`` (through the route above)."""
        return list(COMMANDS)

    @hookimpl
    def receiver_status(self) -> dict[str, Any] | None:
        """Sources (state, RTP packets/loss, IDR requests, keep-alives), MICE connections, container id."""
        return self.service.status() if self.service is not None else None

    async def _connect_route(self, request: Any) -> Any:
        from aiohttp import web

        try:
            body = await request.json()
            target = str(body["target"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"ok": False, "reason": 'expected JSON {"target": "HOST[:PORT]"}'}, status=400)
        ok, detail = await self._running().connect(target)
        if ok:
            return web.json_response({"ok": True, "session": detail})
        return web.json_response({"ok": False, "reason": detail}, status=502)

    def _running(self) -> MiracastService:
        if self.service is None:
            raise RuntimeError("the Miracast plugin is not started")
        return self.service
