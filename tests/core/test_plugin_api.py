"""Plugin API 1.0: class plugins built with their context, the context's facades, attribution of work
done from threads and callbacks, the checked call path, clear refusals."""

from __future__ import annotations

import asyncio
import logging
import stat
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web

from receiver_core import (
    Overlay,
    OverlayKind,
    PluginContext,
    PluginError,
    PluginManifest,
    Route,
    SectionRegistry,
    SessionRequest,
    hookimpl,
    setting,
)
from receiver_core.app import load_plugins_and_config
from receiver_core.errors import ConfigError
from receiver_core.plugins import PluginState, ReceiverPluginManager


@attrs.frozen
class LevelSection:
    level: int = setting(3, "A level.", min=1, max=5)


class Stateful:
    """A class plugin: built once with its context, keeps its own state between hooks."""

    manifest = PluginManifest(name="stateful", display_name="Stateful", version="1.0")
    built = 0

    def __init__(self, ctx: PluginContext) -> None:
        Stateful.built += 1
        self.ctx = ctx
        self.calls = 0

    @hookimpl
    def receiver_config_sections(self, registry: SectionRegistry) -> None:
        registry.add("stateful", LevelSection)

    @hookimpl
    def receiver_overlays(self) -> list[Overlay]:
        self.calls += 1
        return [Overlay(OverlayKind.CONNECT, text=f"level {self.ctx.config(LevelSection).level} call {self.calls}")]

    @hookimpl
    def receiver_status(self) -> dict[str, Any]:
        return {"calls": self.calls}


async def test_a_class_plugin_is_built_once_with_its_context_and_keeps_state(receiver_factory: Any) -> None:
    Stateful.built = 0
    async with receiver_factory(plugins={"stateful": Stateful}, config={"plugin": {"stateful": {"level": 4}}}) as rx:
        plugin = rx.plugins.get_plugin("stateful")
        assert isinstance(plugin, Stateful) and plugin.ctx is rx.plugins.contexts["stateful"]
        before = plugin.calls  # the idle screen was drawn at startup
        rx.display.collect_overlays()
        texts = [o.text for o in rx.display.collect_overlays()]
        assert f"level 4 call {before + 2}" in texts  # the same object every time: its state survives
        assert Stateful.built == 1
        assert {p["name"]: p["status"] for p in rx.plugin_status()}["stateful"] == {"calls": before + 2}


async def test_context_before_the_box_is_built_says_so() -> None:
    pm = ReceiverPluginManager()
    pm.register_plugin(Stateful, "stateful")
    ctx = pm.contexts["stateful"]
    with pytest.raises(PluginError, match="not built yet"):
        ctx.spawn(asyncio.sleep(0))


async def test_state_dir_is_private_and_per_plugin(receiver_factory: Any) -> None:
    async with receiver_factory(plugins={"stateful": Stateful}) as rx:
        path = rx.plugins.contexts["stateful"].state_dir
        assert path.name == "stateful" and path.parent.name == "plugins"
        assert stat.S_IMODE(path.stat().st_mode) == 0o700


async def test_config_section_type_is_checked(receiver_factory: Any) -> None:
    @attrs.frozen
    class Other:
        x: int = setting(1, "x")

    async with receiver_factory(plugins={"stateful": Stateful}) as rx:
        ctx = rx.plugins.contexts["stateful"]
        assert ctx.config(LevelSection) == LevelSection()
        with pytest.raises(PluginError, match="not Other"):
            ctx.config(Other)


class ThreadWorker:
    """Starts a thread that hands work to the loop: everything it causes belongs to this plugin."""

    def __init__(self, ctx: PluginContext, mode: str) -> None:
        self.ctx = ctx
        self.mode = mode

    @hookimpl
    def receiver_startup(self) -> None:
        async def crash() -> None:
            await asyncio.sleep(0.05)
            raise RuntimeError("crash in a task spawned from a thread callback")

        def bad_callback() -> None:
            raise RuntimeError("crash in a thread callback")

        def thread_body() -> None:
            if self.mode == "task":
                self.ctx.call_soon_threadsafe(lambda: self.ctx.spawn(crash()))
            elif self.mode == "callback":
                self.ctx.call_soon_threadsafe(bad_callback)
            else:
                raise RuntimeError("crash in the thread itself")

        self.ctx.start_thread(thread_body, name="worker")


@pytest.mark.parametrize(("mode", "error"), [
    ("task", "task: RuntimeError: crash in a task spawned from a thread callback"),
    ("callback", "callback: RuntimeError: crash in a thread callback"),
    ("thread", "thread: RuntimeError: crash in the thread itself"),
])
async def test_work_from_a_thread_is_attributed_to_its_plugin(receiver_factory: Any, mode: str, error: str) -> None:
    class Bystander:
        @hookimpl
        def receiver_status(self) -> dict[str, Any]:
            return {"ok": True}

    async with receiver_factory(plugins={"worker": lambda ctx: ThreadWorker(ctx, mode), "bystander": Bystander()}) as rx:
        for _ in range(100):
            if rx.plugins.records["worker"].state is PluginState.FAILED:
                break
            await asyncio.sleep(0.02)
        assert rx.plugins.records["worker"].state is PluginState.FAILED
        assert rx.plugins.records["worker"].error == error
        assert rx.plugins.records["bystander"].state is PluginState.RUNNING


async def test_sessions_facade_keeps_a_plugin_to_its_own_protocol(receiver_factory: Any) -> None:
    class Handler:
        def stop(self, reason: str) -> None:
            pass

    async with receiver_factory(plugins={"stateful": Stateful}) as rx:
        ctx = rx.plugins.contexts["stateful"]
        with pytest.raises(PluginError, match="protocol 'airplay'"):
            await ctx.sessions.request(SessionRequest("airplay", "192.0.2.1"), Handler())
        other = await rx.sessions.request(SessionRequest("test", "192.0.2.2"), Handler())
        with pytest.raises(PluginError, match="its own sessions"):
            await ctx.sessions.end(other)
        mine = await ctx.sessions.request(SessionRequest("stateful", "192.0.2.3"), Handler())
        assert ctx.sessions.mine() == [mine]
        await ctx.sessions.end(mine, "normal")
        assert ctx.sessions.mine() == [] and other.visible


def test_wrappers_are_refused_with_a_clear_message() -> None:
    class Wraps:
        @hookimpl(wrapper=True)
        def receiver_status(self) -> Any:
            return (yield)

    with pytest.raises(PluginError, match="wrapper implementations are not supported"):
        ReceiverPluginManager().register_plugin(Wraps(), "wraps")


def test_a_misspelt_hook_gets_the_closest_name() -> None:
    class Typo:
        @hookimpl
        def receiver_overlay(self) -> list[Overlay]:
            return []

    _cfg, pm = load_plugins_and_config({}, environ={}, entry_points=[], extra_plugins=[("typo", Typo())])
    assert pm.records["typo"].state is PluginState.FAILED
    assert pm.records["typo"].error == "unknown hook 'receiver_overlay' (did you mean 'receiver_overlays'?)"


async def test_wrong_answers_mark_the_plugin_failed_naming_the_type(receiver_factory: Any) -> None:
    class Wrong:
        @hookimpl
        def receiver_overlays(self) -> Any:
            return {"text": "not a list"}

    async with receiver_factory(plugins={"wrong": Wrong()}) as rx:
        assert rx.plugins.records["wrong"].state is PluginState.FAILED
        assert rx.plugins.records["wrong"].error == "receiver_overlays: must return a list of Overlay"


def test_a_factory_that_raises_is_refused() -> None:
    def factory(ctx: PluginContext) -> object:
        raise RuntimeError("no hardware")

    with pytest.raises(PluginError, match="could not be built: RuntimeError: no hardware"):
        ReceiverPluginManager().register_plugin(factory, "hw")


def test_list_settings_fail_at_declaration_naming_the_field() -> None:
    @attrs.frozen
    class Bad:
        hosts: list[str] = setting(factory=list, description="Hosts.")

    class Declares:
        @hookimpl
        def receiver_config_sections(self, registry: SectionRegistry) -> None:
            registry.add("declares", Bad)

    with pytest.raises(ConfigError, match=r"^plugin\.declares\.hosts: unsupported setting type .*use tuple"):
        load_plugins_and_config({}, environ={}, entry_points=[], extra_plugins=[("declares", Declares())])


async def test_route_errors_are_json_500s_blamed_on_the_plugin(receiver_factory: Any) -> None:
    class Routes:
        @hookimpl
        def receiver_admin_routes(self) -> list[Route]:
            async def boom(request: web.Request) -> web.Response:
                raise RuntimeError("route bug")

            return [Route("GET", "boom", boom, public=True)]

    class DictRoute:
        @hookimpl
        def receiver_admin_routes(self) -> list[Route]:
            async def as_dict(request: web.Request) -> Any:
                return {"not": "a response"}
            return [Route("GET", "dict", as_dict, public=True)]

    async with receiver_factory(plugins={"routes": Routes(), "dictroute": DictRoute()}) as rx, \
            aiohttp.ClientSession() as http:
        response = await http.get(f"{rx.admin.url}/plugins/routes/boom")
        assert response.status == 500 and (await response.json())["error"] == "plugin routes failed on this request"
        assert rx.plugins.records["routes"].error == "route GET /plugins/routes/boom: RuntimeError: route bug"
        response = await http.get(f"{rx.admin.url}/plugins/dictroute/dict")
        assert response.status == 500 and "answered this request wrongly" in (await response.json())["error"]
        assert "must return an aiohttp response, not dict" in rx.plugins.records["dictroute"].error


async def test_tracing_covers_async_hooks_and_shows_no_contents(
        receiver_factory: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("RECEIVER_TRACE_HOOKS", "1")

    class Async:
        @hookimpl
        async def receiver_startup(self) -> None:
            await asyncio.sleep(0)

    with caplog.at_level(logging.DEBUG, logger="receiver_core.hooks"):
        async with receiver_factory(plugins={"async": Async()},
                                    config={"session": {"pin_mode": "fixed", "pin": "8642"}}) as rx:
            rx.display.collect_overlays()
    messages = [r.getMessage() for r in caplog.records if r.name == "receiver_core.hooks"]
    assert any(m.startswith("receiver_startup <- async: NoneType") for m in messages)
    assert any(m.startswith("receiver_overlays <- idle_screen: ") and "Overlay" in m for m in messages)
    assert not any("8642" in m for m in messages)


async def test_call_hook_reaches_hooks_a_plugin_declared(receiver_factory: Any) -> None:
    from receiver_core import hookspec

    class Spec:
        @staticmethod
        @hookspec
        def receiver_demo_provider(value: int) -> int:  # pragma: no cover - a spec body never runs
            """A provider hook another plugin may implement."""
            raise AssertionError

    class Declarer:
        def __init__(self, ctx: PluginContext) -> None:
            self.ctx = ctx

        @hookimpl
        def receiver_addhooks(self, pluginmanager: Any) -> None:
            pluginmanager.add_hookspecs(Spec)

    class Provider:
        @hookimpl
        def receiver_demo_provider(self, value: int) -> int:
            return value + 1

    async with receiver_factory(plugins={"declarer": Declarer, "provider": Provider()}) as rx:
        ctx = rx.plugins.contexts["declarer"]
        assert ctx.call_hook("receiver_demo_provider", value=41) == [("provider", 42)]

