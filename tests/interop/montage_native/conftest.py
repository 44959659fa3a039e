"""A real box running the montage_native plugin (through its entry point) on loopback: the core binds
the HTTPS port, checks PIN and meeting ID, decodes and composites what Chromium sends."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import attrs
import pytest
from receiver_plugins.montage_native import NativePlugin
from receiver_plugins.montage_native.web import NativeWeb

from .netns import private_network

PIN = "4826"


@pytest.fixture(autouse=True)
def isolated_network() -> Iterator[str]:
    """Every test here runs in a fresh network namespace holding only ``lo`` (box, Chromium, coturn)."""
    with private_network() as name:
        yield name


@attrs.define
class Box:
    rx: Any
    plugin: NativePlugin
    port: int

    @property
    def web(self) -> NativeWeb:
        assert self.plugin.service is not None and self.plugin.service.web is not None
        return self.plugin.service.web

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
def native_box(receiver_factory: Callable[..., Any]) -> Callable[..., Any]:
    """``async with native_box(session={...}, **plugin_settings) as box``."""

    @contextlib.asynccontextmanager
    async def factory(session: dict[str, Any] | None = None, **plugin: Any) -> AsyncIterator[Box]:
        settings = {"port": 0, "http_port": 0, "ice_addresses": ["127.0.0.1"], **plugin}
        config = {"session": {"pin_mode": "fixed", "pin": PIN, **(session or {})},
                  "plugin": {"montage_native": settings}}
        async with receiver_factory(installed=["montage_native"], config=config) as rx:
            record = rx.plugins.records["montage_native"]
            assert record.state.value == "running", record.error
            port = rx.listeners.port("montage_native", "https")
            assert port
            yield Box(rx, rx.plugins.get_plugin("montage_native"), port)

    return factory
