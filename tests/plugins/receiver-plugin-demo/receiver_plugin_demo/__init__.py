"""A third-party plugin as an outsider would write one: its own distribution, entry point and
typed config section. It runs a TCP echo service, advertises it over mDNS, adds a line to the
idle screen and can be told to fail in one hook (``fail_in``) so the host's isolation is tested."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs

from receiver_core import (
    AuthDecision,
    IdleState,
    ListenerSpec,
    NetInterface,
    Overlay,
    OverlayKind,
    PluginContext,
    PluginManifest,
    Screen,
    SectionRegistry,
    ServiceAdvertisement,
    SessionRequest,
    hookimpl,
    setting,
)

manifest = PluginManifest(name="demo", display_name="Demo echo", version="0.3.0", requires_core=">=0.2",
                          service_types=("_montage-demo._tcp",), provides=("TCP echo", "mDNS advert"))

FAIL_POINTS = ("", "startup", "mdns", "overlays", "task", "authorize", "status")


@attrs.frozen
class DemoConfig:
    greeting: str = setting("hello", "Sent in the TXT record and echoed first.")
    port: int = setting(0, "TCP port of the echo service (0 = any).", min=0, max=65535)
    fail_in: str = setting("", "Raise in this hook (for isolation tests).", choices=FAIL_POINTS)


class Echo(asyncio.Protocol):
    def __init__(self, greeting: bytes) -> None:
        self.greeting = greeting

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.greeting + b"\n")

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


class DemoPlugin:
    """Entry point ``demo = receiver_plugin_demo:DemoPlugin``."""

    manifest = manifest

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    @property
    def cfg(self) -> DemoConfig:
        return self.ctx.config(DemoConfig)

    @hookimpl
    def receiver_config_sections(self, registry: SectionRegistry) -> None:
        """Declare ``[plugin.demo]``."""
        registry.add("demo", DemoConfig, description="Demo echo service")

    @hookimpl
    def receiver_startup(self) -> None:
        """Optionally fail, or start a task that crashes (from a thread callback, like a demuxer would)."""
        if self.cfg.fail_in == "startup":
            raise RuntimeError("demo: startup failure on purpose")
        if self.cfg.fail_in == "task":
            async def crash() -> None:
                await asyncio.sleep(0.2)
                raise RuntimeError("demo: task crash on purpose")
            self.ctx.start_thread(self.ctx.call_soon_threadsafe, lambda: self.ctx.spawn(crash()))

    @hookimpl
    def receiver_listeners(self) -> list[ListenerSpec]:
        """One TCP echo listener."""
        greeting = self.cfg.greeting.encode()
        return [ListenerSpec("echo", self.cfg.port, lambda: Echo(greeting))]

    @hookimpl
    def receiver_mdns_services(self, interface: NetInterface) -> list[ServiceAdvertisement]:
        """``<box name> demo`` as ``_montage-demo._tcp`` on the echo port."""
        if self.cfg.fail_in == "mdns":
            raise RuntimeError("demo: mdns failure on purpose")
        port = self.ctx.listener_port("echo") or 0
        return [ServiceAdvertisement("_montage-demo._tcp", f"{self.ctx.box.name} demo", port,
                                     {"greeting": self.cfg.greeting, "iface": interface.name})]

    @hookimpl
    def receiver_overlays(self, screen: Screen, state: IdleState) -> list[Overlay]:
        """How to reach the echo service."""
        if self.cfg.fail_in == "overlays":
            raise RuntimeError("demo: overlays failure on purpose")
        return [Overlay(OverlayKind.CONNECT, text=f"Demo echo: tcp port {self.ctx.listener_port('echo')}")]

    @hookimpl
    def receiver_session_authorize(self, request: SessionRequest) -> AuthDecision | None:
        """No opinion, unless told to fail (then the host must deny: fail closed)."""
        if self.cfg.fail_in == "authorize":
            raise RuntimeError("demo: authorize failure on purpose")
        return None

    @hookimpl
    def receiver_status(self) -> dict[str, Any]:
        """The greeting, for the status API."""
        if self.cfg.fail_in == "status":
            raise RuntimeError("demo: status failure on purpose")
        return {"greeting": self.cfg.greeting}
