"""A third-party plugin as an outsider would write one: its own distribution, entry point and
typed config section. It runs a TCP echo service, advertises it over mDNS, adds a line to the
idle screen and can be told to fail in one hook (``fail_in``) so the host's isolation is tested."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs

from receiver_core import ListenerSpec, Overlay, OverlayKind, PluginManifest, ServiceAdvertisement, hookimpl
from receiver_core.config.schema import setting

manifest = PluginManifest(name="demo", display_name="Demo echo", version="0.3.0",
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


def _cfg(receiver: Any) -> DemoConfig:
    return receiver.plugin_config("demo")


@hookimpl
def receiver_config_sections(registry: Any) -> None:
    """Declare ``[plugin.demo]``."""
    registry.add("demo", DemoConfig, description="Demo echo service")


@hookimpl
def receiver_startup(receiver: Any) -> None:
    """Optionally fail, or start a task that crashes."""
    cfg = _cfg(receiver)
    if cfg.fail_in == "startup":
        raise RuntimeError("demo: startup failure on purpose")
    if cfg.fail_in == "task":
        async def crash() -> None:
            await asyncio.sleep(0.2)
            raise RuntimeError("demo: task crash on purpose")
        receiver.spawn(crash())


@hookimpl
def receiver_listeners(receiver: Any) -> list[ListenerSpec]:
    """One TCP echo listener."""
    cfg = _cfg(receiver)
    return [ListenerSpec("echo", cfg.port, lambda: Echo(cfg.greeting.encode()))]


@hookimpl
def receiver_mdns_services(receiver: Any, interface: Any) -> list[ServiceAdvertisement]:
    """``<box name> demo`` as ``_montage-demo._tcp`` on the echo port."""
    cfg = _cfg(receiver)
    if cfg.fail_in == "mdns":
        raise RuntimeError("demo: mdns failure on purpose")
    port = receiver.listeners.port("demo", "echo")
    return [ServiceAdvertisement("_montage-demo._tcp", f"{receiver.name} demo", port,
                                 {"greeting": cfg.greeting, "iface": interface.name})]


@hookimpl
def receiver_overlays(receiver: Any, screen: Any, state: Any) -> list[Overlay]:
    """How to reach the echo service."""
    if _cfg(receiver).fail_in == "overlays":
        raise RuntimeError("demo: overlays failure on purpose")
    port = receiver.listeners.port("demo", "echo")
    return [Overlay(OverlayKind.CONNECT, text=f"Demo echo: tcp port {port}")]


@hookimpl
def receiver_session_authorize(receiver: Any, request: Any) -> Any:
    """No opinion, unless told to fail (then the host must deny: fail closed)."""
    if _cfg(receiver).fail_in == "authorize":
        raise RuntimeError("demo: authorize failure on purpose")
    return None


@hookimpl
def receiver_status(receiver: Any) -> dict[str, Any]:
    """The greeting, for the status API."""
    if _cfg(receiver).fail_in == "status":
        raise RuntimeError("demo: status failure on purpose")
    return {"greeting": _cfg(receiver).greeting}
