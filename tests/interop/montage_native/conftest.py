"""A real box (core sessions, PIN, media pipeline) serving the native join page over TLS on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web
from receiver_plugins.montage_native import receive_path
from receiver_plugins.montage_native.aiortc_patches import host_addresses
from receiver_plugins.montage_native.peer import PeerOptions
from receiver_plugins.montage_native.tls import ensure_certificate, server_context, tls_wrapped
from receiver_plugins.montage_native.web import NativeWeb

PIN = "4826"


class ReceiverHost:
    """Pre-"Plugin API 1.0" adapter from a test ``Receiver`` to what ``NativeWeb`` needs."""

    def __init__(self, rx: Any, ice: list[dict[str, Any]]) -> None:
        self.rx = rx
        self.ice = ice
        self.tasks: set[asyncio.Task[Any]] = set()

    async def request(self, request: Any, handler: Any) -> Any:
        return await self.rx.sessions.request(request, handler)

    async def end(self, session: Any, reason: str) -> None:
        await self.rx.sessions.end(session, reason, notify=False)

    async def attach(self, session: Any, source: Any) -> Any:
        return await self.rx.media.attach(session, source)

    def ice_servers(self, client_id: str) -> list[dict[str, Any]]:
        return list(self.ice)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


@attrs.define
class Box:
    rx: Any
    web: NativeWeb
    port: int

    @property
    def meeting_id(self) -> str:
        return self.rx.sessions.meeting.current

    def url(self, query: str = "quality=720") -> str:
        return f"https://127.0.0.1:{self.port}/?{query}"

    def video_stats(self) -> list[Any]:
        out = []
        for session in self.rx.sessions.all():
            link = session.media.link("video") if session.media is not None else None
            if link is not None:
                out.append(link.stats)
        return out


@pytest.fixture
def native_box(receiver_factory: Callable[..., Any], tmp_path: Path) -> Callable[..., Any]:
    """``async with native_box(session={...}, ice=[...]) as box``."""

    @contextlib.asynccontextmanager
    async def factory(session: dict[str, Any] | None = None, ice: list[dict[str, Any]] | None = None,
                      options: PeerOptions = PeerOptions()) -> AsyncIterator[Box]:
        host_addresses(lambda: ["127.0.0.1"])
        receive_path.install()
        config = {"session": {"pin_mode": "fixed", "pin": PIN, **(session or {})}}
        try:
            async with receiver_factory(config=config) as rx:
                host = ReceiverHost(rx, ice or [])
                native = NativeWeb(host, options)
                runner = web.AppRunner(native.app, handle_signals=False)
                await runner.setup()
                cert, key = ensure_certificate(tmp_path / "tls", "box.test")
                loop = asyncio.get_running_loop()
                server = await loop.create_server(tls_wrapped(runner.server, server_context(cert, key)),
                                                  "127.0.0.1", 0)
                try:
                    yield Box(rx, native, server.sockets[0].getsockname()[1])
                finally:
                    await native.close()
                    server.close()
                    await runner.cleanup()
                    for task in list(host.tasks):
                        task.cancel()
        finally:
            host_addresses(None)
            receive_path.uninstall()

    return factory
