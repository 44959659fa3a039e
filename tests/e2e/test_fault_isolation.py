"""Fault isolation: a plugin that raises in a hook or whose task crashes is retired alone.

Its sessions end, its sockets close, its adverts are withdrawn; the other plugins' sessions,
sockets and adverts stay, and the box keeps answering."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from receiver_core import ListenerSpec, ServiceAdvertisement, SessionRequest, hookimpl


class Protocol:
    """A small protocol plugin: a listener, an advert, and a session per 'client'."""

    def __init__(self, name: str, crash_after: float | None = None) -> None:
        self.name = name
        self.crash_after = crash_after
        self.stopped: list[str] = []

    @hookimpl
    def receiver_startup(self, ctx: Any) -> None:
        if self.crash_after is not None:
            async def worker() -> None:
                await asyncio.sleep(self.crash_after)
                raise RuntimeError(f"{self.name} worker crashed")
            ctx.spawn(worker())

    @hookimpl
    def receiver_listeners(self, ctx: Any) -> list[ListenerSpec]:
        return [ListenerSpec("control", 0, asyncio.Protocol, host="127.0.0.1")]

    @hookimpl
    def receiver_mdns_services(self, ctx: Any, interface: Any) -> list[ServiceAdvertisement]:
        port = ctx.listener_port("control")
        return [ServiceAdvertisement(f"_{self.name}._tcp", ctx.box.name, port)]

    def stop(self, reason: str) -> None:  # SessionHandler
        self.stopped.append(reason)


class RaisingObserver:
    @hookimpl
    def receiver_session_started(self, ctx: Any, session: Any) -> None:
        raise KeyError("observer bug")


async def test_a_crashing_plugin_is_retired_alone(receiver_factory: Any) -> None:
    good, bad = Protocol("good"), Protocol("bad", crash_after=0.3)
    async with receiver_factory(plugins={"good": good, "bad": bad, "observer": RaisingObserver()}) as rx, \
            aiohttp.ClientSession() as http:
        mine = await rx.sessions.request(SessionRequest("good", "192.0.2.5", "Alice"), handler=good)
        theirs = await rx.sessions.request(SessionRequest("bad", "192.0.2.6", "Bob"), handler=bad)
        assert rx.plugins.records["observer"].state.value == "failed"  # raised in session_started
        assert mine.visible and theirs.visible  # ... without disturbing the sessions
        bad_port = rx.listeners.port("bad", "control")
        for _ in range(60):
            if rx.plugins.records["bad"].state.value == "failed" and theirs.state.value == "ended":
                break
            await asyncio.sleep(0.05)
        assert rx.plugins.records["bad"].error == "task: RuntimeError: bad worker crashed"
        assert theirs.end_reason == "error: the protocol plugin failed" and bad.stopped
        assert mine.visible and not good.stopped
        assert rx.mdns.backend.names("_bad._tcp") == [] and rx.mdns.backend.names("_good._tcp") == ["Test Room"]
        assert ("goodbye", "_bad._tcp", "Test Room") in rx.mdns.backend.events
        assert rx.listeners.port("bad", "control") is None
        try:
            _r, w = await asyncio.open_connection("127.0.0.1", bad_port)
            w.close()
            raise AssertionError("the failed plugin's socket is still open")
        except OSError:
            pass
        _r, w = await asyncio.open_connection("127.0.0.1", rx.listeners.port("good", "control"))
        w.close()
        status = await (await http.get(f"{rx.admin.url}/api/status")).json()
        assert {p["name"]: p["state"] for p in status["plugins"]}["good"] == "running"
        assert [s["protocol"] for s in status["sessions"]] == ["good"]


async def test_startup_failure_withdraws_what_already_started(tmp_path: Any) -> None:
    import socket

    import pytest

    from receiver_core.testing import FakeMdns, started_receiver

    mdns = FakeMdns()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            async with started_receiver(tmp_path, plugins={"good": Protocol("good")}, mdns=mdns,
                                            config={"status": {"port": port}}):
                raise AssertionError("the status port is taken: startup must fail")
    assert ("register", "_good._tcp", "Test Room") in mdns.events  # it had been announced ...
    assert mdns.closed and mdns.services == {}  # ... and was withdrawn before the error surfaced
