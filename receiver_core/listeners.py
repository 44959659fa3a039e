"""Sockets plugins ask for (``receiver_listeners``): the core binds them, detects clashes, closes them."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import attrs

from .attribution import acting_as
from .model import ListenerSpec

if TYPE_CHECKING:
    from .box import Box

__all__ = ["ListenerManager", "BoundListener"]

log = logging.getLogger(__name__)


@attrs.define
class BoundListener:
    plugin: str
    spec: ListenerSpec
    port: int
    handle: Any = attrs.field(repr=False)  # asyncio.Server or DatagramTransport

    async def close(self) -> None:
        if isinstance(self.handle, asyncio.AbstractServer):
            self.handle.close()
            await self.handle.wait_closed()
        else:
            self.handle.close()


class ListenerManager:
    def __init__(self, receiver: Box) -> None:
        self._receiver = receiver
        self._bound: list[BoundListener] = []

    async def bind_all(self, only: str | None = None) -> None:
        """Bind every plugin's listeners (or only one plugin's, after a delayed start)."""
        plugins = self._receiver.plugins
        answers = plugins.call_each("receiver_listeners", only=only, running_only=only is None)
        for plugin, specs in answers:
            error = await self._bind_plugin(plugin, specs)
            if error:
                await self.close_plugin(plugin)
                plugins.mark_failed(plugin, error, hook="receiver_listeners")

    async def _bind_plugin(self, plugin: str, specs: list[ListenerSpec]) -> str | None:
        for spec in specs:
            if spec.port:
                clash = next((b for b in self._bound
                              if b.port == spec.port and b.spec.transport == spec.transport), None)
                if clash is not None:
                    return (f"{spec.transport} port {spec.port} ({spec.name}) is already taken by "
                            f"{clash.plugin} ({clash.spec.name})")
            try:
                with acting_as(plugin):  # the protocol's callbacks run in the plugin's context
                    bound = await self._bind(plugin, spec)
            except OSError as exc:
                return f"cannot bind {spec.transport} port {spec.port} ({spec.name}): {exc.strerror or exc}"
            self._bound.append(bound)
            log.info("%s listens on %s port %d (%s)", plugin, spec.transport, bound.port, spec.name)
        return None

    async def _bind(self, plugin: str, spec: ListenerSpec) -> BoundListener:
        loop = asyncio.get_running_loop()
        host = spec.host or "0.0.0.0"  # IPv4 wildcard, like discovery; a plugin wanting IPv6 names "::"
        if spec.transport == "tcp":
            server = await loop.create_server(spec.factory, host=host, port=spec.port, reuse_address=True)
            port = server.sockets[0].getsockname()[1]
            return BoundListener(plugin, spec, port, server)
        transport, _protocol = await loop.create_datagram_endpoint(spec.factory, local_addr=(host, spec.port))
        return BoundListener(plugin, spec, transport.get_extra_info("sockname")[1], transport)

    def port(self, plugin: str, name: str) -> int | None:
        """The port a listener really got (useful with ``port=0``)."""
        return next((b.port for b in self._bound if b.plugin == plugin and b.spec.name == name), None)

    async def close_plugin(self, plugin: str) -> None:
        for bound in [b for b in self._bound if b.plugin == plugin]:
            self._bound.remove(bound)
            await bound.close()

    async def close_all(self) -> None:
        while self._bound:
            await self._bound.pop().close()

    def status(self) -> list[dict[str, Any]]:
        return [{"plugin": b.plugin, "name": b.spec.name, "transport": b.spec.transport, "port": b.port,
                 "host": b.spec.host or "*"} for b in self._bound]
