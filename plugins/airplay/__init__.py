"""AirPlay receiver plugin: AirPlay 1 (RAOP) and AirPlay 2 real-time audio, pairing with the box PIN.

The plugin object only delegates: ``rtsp``/``sdp``/``rtp``/``tlv8``/``hap``/``ap2`` are sans-I/O
wire formats, ``connection`` is one control connection (one session), ``stream`` one audio
stream's UDP sockets, ``service`` the state while the box runs. Mirroring and video URLs are not
implemented (and not advertised).
"""

from __future__ import annotations

from typing import Any

from receiver_core import (
    IdleState,
    ListenerSpec,
    NetInterface,
    Overlay,
    OverlayKind,
    PluginContext,
    Screen,
    SectionRegistry,
    ServiceAdvertisement,
    hookimpl,
)
from receiver_core.hookspecs import HookDeclarer

from .config import AirPlayConfig
from .fairplay import HOOK as FAIRPLAY_HOOK
from .fairplay import FairPlaySpec, find_provider
from .manifest import manifest
from .service import AirPlayService

__all__ = ["AirPlayPlugin", "manifest"]


class AirPlayPlugin:
    """Entry point ``airplay = receiver_plugins.airplay:AirPlayPlugin``; built once per box with its context."""

    manifest = manifest

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.service: AirPlayService | None = None

    @hookimpl
    def receiver_addhooks(self, pluginmanager: HookDeclarer) -> None:
        """Declare the optional FairPlay provider hook (``fairplay.py``); the project implements none."""
        pluginmanager.add_hookspecs(FairPlaySpec)

    @hookimpl
    def receiver_config_sections(self, registry: SectionRegistry) -> None:
        """Declare ``[plugin.airplay]``."""
        registry.add("airplay", AirPlayConfig, description="AirPlay audio; screen mirroring where it can complete")

    @hookimpl
    def receiver_startup(self) -> None:
        """Load (or create) the identity key; close every sender when the plugin unloads."""
        fairplay = find_provider(self.ctx.call_hook(FAIRPLAY_HOOK))
        self.service = AirPlayService(self.ctx, self.ctx.config(AirPlayConfig), fairplay)
        self.ctx.on_unload(self.service.close)

    @hookimpl
    def receiver_listeners(self) -> list[ListenerSpec]:
        """One TCP port for RTSP and HTTP (7000 by default), the mirror data port (7100) when mirroring is
        possible; UDP ports are opened per stream."""
        service = self._running()
        mirror = [service.mirror.listener()] if service.mirror.enabled else []  # mirror data port, when earned
        return [ListenerSpec("control", service.config.port, service.connection), *mirror]

    @hookimpl
    def receiver_mdns_services(self, interface: NetInterface) -> list[ServiceAdvertisement]:
        """``_airplay._tcp`` and ``_raop._tcp`` on the control port, TXT as ``/info`` says."""
        service = self._running()
        port = self.ctx.listener_port("control")
        if port is None:
            return []
        advert = service.advert
        return [ServiceAdvertisement("_airplay._tcp", advert.name[:63], port, advert.airplay_txt()),
                ServiceAdvertisement("_raop._tcp", advert.raop_instance()[:63], port, advert.raop_txt())]

    @hookimpl
    def receiver_overlays(self, screen: Screen, state: IdleState) -> list[Overlay]:
        """The AirPlay line of the idle screen."""
        if self.service is None or self.ctx.listener_port("control") is None:
            return []
        what = "AirPlay" if self.service.mirror.enabled else "AirPlay (audio)"
        return [Overlay(OverlayKind.CONNECT, text=f"{what}:  {self.service.name}", order=10)]

    @hookimpl
    def receiver_status(self) -> dict[str, Any] | None:
        """Senders, codec, packets lost/recovered, buffer depth (no keys)."""
        return self.service.status() if self.service is not None else None

    def _running(self) -> AirPlayService:
        if self.service is None:
            raise RuntimeError("the AirPlay plugin is not started")
        return self.service
