"""The web side's ``Host`` on top of the plugin's ``PluginContext`` (sessions, media, tasks, ICE)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from receiver_core import PluginContext, QueueSource, SessionRequest, StreamRole

from .config import NativeConfig
from .ice import browser_ice_servers
from .viewback import FPS, HEIGHT, WIDTH, Reader

__all__ = ["ContextHost"]


class ContextHost:
    def __init__(self, ctx: PluginContext, cfg: NativeConfig) -> None:
        self.ctx = ctx
        self.cfg = cfg

    async def request(self, request: SessionRequest, handler: Any) -> Any:
        return await self.ctx.sessions.request(request, handler)

    async def end(self, session: Any, reason: str) -> None:
        await self.ctx.sessions.end(session, reason)

    async def attach(self, session: Any, source: QueueSource, role: StreamRole) -> Any:
        return await self.ctx.media.attach(session, source, role)

    async def detach(self, session: Any, link: Any) -> None:
        await self.ctx.media.detach(session, link)

    def ice_servers(self, client_id: str) -> list[dict[str, Any]]:
        return browser_ice_servers(list(self.cfg.stun_urls), list(self.cfg.turn_urls), self.cfg.turn_secret,
                                   client_id[:16], time.time(), self.cfg.turn_ttl)

    def watch(self) -> Reader:
        """A reader of the room's composite at 720p, 15 fps (one tap shared by every viewer)."""
        return self.ctx.display.watch(WIDTH, HEIGHT, FPS)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        return self.ctx.spawn(coro)
