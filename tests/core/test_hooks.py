"""One test per hook: each is called when the docs say, with what they say, and its answer is used."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web

from receiver_core import (
    Admission,
    AuthDecision,
    Layout,
    ListenerSpec,
    NetInterface,
    Overlay,
    OverlayKind,
    P2PDeviceConfig,
    Rect,
    Route,
    ServiceAdvertisement,
    SessionRejected,
    SessionRequest,
    Tile,
    WfdSubelement,
    hookimpl,
)
from receiver_core.app import load_plugins_and_config
from receiver_core.config.schema import setting
from receiver_core.errors import ConfigError, PluginError
from receiver_core.media.caps import MediaCaps
from receiver_core.media.decoders import RANK_MARGINAL, DecoderSpec, PassthroughDecoder
from receiver_core.testing import FakeNet, FakeP2P


def request(peer: str = "192.0.2.20", name: str = "Alice", **kw: Any) -> SessionRequest:
    return SessionRequest("test", peer, name, **kw)


# ------------------------------------------------------------------------------------------ setup


def test_hook_receiver_addhooks() -> None:
    class Spec:
        @staticmethod
        def receiver_demo_extra(value: int) -> int:  # pragma: no cover - a spec body never runs
            """An extra hook a plugin declares."""
            raise AssertionError

    from receiver_core.hookspecs import hookspec

    Spec.receiver_demo_extra = staticmethod(hookspec(Spec.receiver_demo_extra))

    class Declares:
        @hookimpl
        def receiver_addhooks(self, pluginmanager: Any) -> None:
            pluginmanager.add_hookspecs(Spec)

    class Implements:
        @hookimpl
        def receiver_demo_extra(self, value: int) -> int:
            return value * 2

    _cfg, pm = load_plugins_and_config({}, environ={}, entry_points=[],
                                       extra_plugins=[("declares", Declares()), ("implements", Implements())])
    assert pm.hook.receiver_demo_extra(value=21) == [42]

    class Broken:
        @hookimpl
        def receiver_addhooks(self, pluginmanager: Any) -> None:
            raise RuntimeError("cannot declare")

    with pytest.raises(PluginError, match="receiver_addhooks: RuntimeError: cannot declare"):
        load_plugins_and_config({}, environ={}, entry_points=[], extra_plugins=[("broken", Broken())])


def test_hook_receiver_plugin_registered() -> None:
    seen: list[str] = []

    class Observer:
        @hookimpl
        def receiver_plugin_registered(self, plugin: object, plugin_name: str) -> None:
            seen.append(plugin_name)

    class Later:
        pass

    _cfg, pm = load_plugins_and_config({}, environ={}, entry_points=[],
                                       extra_plugins=[("observer", Observer()), ("later", Later())])
    # replayed for everyone registered before the observer, then called for later ones
    assert {"core_admin", "pin_auth", "layouts"} <= set(seen)
    assert seen.index("observer") < seen.index("later")


def test_hook_receiver_config_sections() -> None:
    @attrs.frozen
    class Section:
        level: int = setting(3, "A level.", min=1, max=5)

    class Plugin:
        @hookimpl
        def receiver_config_sections(self, registry: Any) -> None:
            registry.add("typed", Section)

    cfg, _pm = load_plugins_and_config({"plugin": {"typed": {"level": 4}}}, environ={}, entry_points=[],
                                       extra_plugins=[("typed", Plugin())])
    assert cfg.plugin["typed"] == Section(level=4)
    with pytest.raises(ConfigError, match=r"^plugin\.typed\.level: must be 1\.\.5$"):
        load_plugins_and_config({"plugin": {"typed": {"level": 9}}}, environ={}, entry_points=[],
                                extra_plugins=[("typed", Plugin())])

    class Thief:
        @hookimpl
        def receiver_config_sections(self, registry: Any) -> None:
            registry.add("typed", Section)

    with pytest.raises(ConfigError, match="may only register its own section"):
        load_plugins_and_config({}, environ={}, entry_points=[], extra_plugins=[("thief", Thief())])


async def test_hook_receiver_configure(receiver_factory: Any) -> None:
    seen: list[str] = []

    class Plugin:
        @hookimpl
        def receiver_configure(self, ctx: Any) -> None:
            seen.append(ctx.box.name)

    class Failing:
        @hookimpl
        def receiver_configure(self, ctx: Any) -> None:
            raise ValueError("bad config")

    async with receiver_factory(plugins={"p": Plugin(), "f": Failing()}) as rx:
        assert seen == ["Test Room"]
        assert rx.plugins.records["f"].state.value == "failed"
        assert "receiver_configure: ValueError: bad config" in rx.plugins.records["f"].error
        assert rx.plugins.records["p"].state.value == "running"


async def test_hook_receiver_startup(receiver_factory: Any) -> None:
    from receiver_core import NotReady

    calls: list[str] = []

    class Plugin:
        @hookimpl
        async def receiver_startup(self, ctx: Any) -> None:
            await asyncio.sleep(0)
            calls.append("started")
            ctx.on_unload(lambda: calls.append("unloaded"))

    class Flaky:
        attempts = 0

        @hookimpl
        def receiver_startup(self, ctx: Any) -> None:
            Flaky.attempts += 1
            if Flaky.attempts == 1:
                raise NotReady("wpa_supplicant not up yet")

    async with receiver_factory(plugins={"p": Plugin(), "flaky": Flaky()}) as rx:
        assert calls == ["started"]
        assert rx.plugins.records["flaky"].state.value == "loaded"
        assert "not ready" in rx.plugins.records["flaky"].error
        for _ in range(40):  # retried after 1 s
            if rx.plugins.records["flaky"].state.value == "running":
                break
            await asyncio.sleep(0.1)
        assert rx.plugins.records["flaky"].state.value == "running"
    assert calls == ["started", "unloaded"]


async def test_hook_receiver_shutdown(receiver_factory: Any) -> None:
    order: list[str] = []

    class Plugin:
        @hookimpl
        def receiver_startup(self, ctx: Any) -> None:
            ctx.on_unload(lambda: order.append("unload callback"))

        @hookimpl
        async def receiver_shutdown(self, ctx: Any) -> None:
            order.append("shutdown")

    class Raises:
        @hookimpl
        def receiver_shutdown(self, ctx: Any) -> None:
            raise RuntimeError("teardown trouble")

    async with receiver_factory(plugins={"p": Plugin(), "r": Raises()}):
        pass
    assert order == ["shutdown", "unload callback"]


# -------------------------------------------------------------------------------------- discovery


async def test_hook_receiver_mdns_services(receiver_factory: Any) -> None:
    seen: list[str] = []

    class Plugin:
        @hookimpl
        def receiver_mdns_services(self, ctx: Any, interface: NetInterface) -> list[ServiceAdvertisement]:
            seen.append(interface.name)
            return [ServiceAdvertisement("_test._tcp", ctx.box.name, 7000, {"k": "v"})]

    net = FakeNet.single("eth0", "192.0.2.10")
    async with receiver_factory(plugins={"p": Plugin()}, net=net) as rx:
        backend = rx.mdns.backend
        assert seen == ["eth0"]  # not lo: loopback is never advertised
        item, name = backend.services[("_test._tcp", "Test Room")]
        assert name == "Test Room" and item.addresses == ("192.0.2.10",) and item.ad.port == 7000
        assert backend.interfaces == ["192.0.2.10"]
    assert backend.closed and ("goodbye", "_test._tcp", "Test Room") in backend.events


async def test_hook_receiver_wfd_subelements(receiver_factory: Any) -> None:
    class Sink:
        @hookimpl
        def receiver_wfd_subelements(self, ctx: Any) -> list[WfdSubelement]:
            return [WfdSubelement(0, bytes.fromhex("00111c440032"))]

    class Other:
        @hookimpl
        def receiver_wfd_subelements(self, ctx: Any) -> list[WfdSubelement]:
            return [WfdSubelement(0, b"\x00\x10\x1c\x44\x00\x01"), WfdSubelement(6, b"\x00" * 7)]

    p2p = FakeP2P()
    async with receiver_factory(plugins={"sink": Sink(), "other": Other()}, p2p=p2p) as rx:
        wfd_ies, _device = p2p.writes[-1]
        assert wfd_ies.startswith(bytes.fromhex("000006")) and len(wfd_ies) == 9 + 10
        assert any("refused" in e and "sink" in e and "other" in e for e in rx.p2p.errors)
    assert p2p.restored


async def test_hook_receiver_p2p_device_config(receiver_factory: Any) -> None:
    class Plugin:
        @hookimpl
        def receiver_p2p_device_config(self, ctx: Any) -> P2PDeviceConfig:
            return P2PDeviceConfig(device_name=f"{ctx.box.name} (Miracast)", go_intent=14)

    p2p = FakeP2P()
    async with receiver_factory(plugins={"p": Plugin()}, p2p=p2p):
        assert p2p.writes[-1][1] == P2PDeviceConfig(device_name="Test Room (Miracast)", go_intent=14)

    class Raises:
        @hookimpl
        def receiver_p2p_device_config(self, ctx: Any) -> P2PDeviceConfig:
            raise RuntimeError("no")

    p2p = FakeP2P()
    async with receiver_factory(plugins={"r": Raises()}, p2p=p2p):
        assert p2p.writes[-1][1] == P2PDeviceConfig(device_name="Test Room")  # defaults


async def test_hook_receiver_listeners(receiver_factory: Any) -> None:
    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            transport.write(b"hi")
            transport.close()

    class Plugin:
        @hookimpl
        def receiver_listeners(self, ctx: Any) -> list[ListenerSpec]:
            return [ListenerSpec("echo", 0, Echo, host="127.0.0.1")]

    async with receiver_factory(plugins={"p": Plugin()}) as rx:
        port = rx.listeners.port("p", "echo")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await reader.read() == b"hi"
        writer.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)  # closed with the receiver


# --------------------------------------------------------------------------------------- sessions


async def test_hook_receiver_session_authorize(receiver_factory: Any) -> None:
    class DenyBob:
        @hookimpl
        def receiver_session_authorize(self, ctx: Any, request: SessionRequest) -> AuthDecision | None:
            return AuthDecision.deny("not Bob") if request.display_name == "Bob" else None

    async with receiver_factory(plugins={"d": DenyBob()}) as rx:
        with pytest.raises(SessionRejected, match="not Bob"):
            await rx.sessions.request(request(name="Bob"))
        session = await rx.sessions.request(request(name="Alice"))  # None -> built-in pin_auth decides
        assert session.visible


async def test_hook_receiver_session_admit(receiver_factory: Any) -> None:
    class OnlyOne:
        @hookimpl
        def receiver_session_admit(self, ctx: Any, session: Any, active: Sequence[Any]) -> Admission:
            return Admission.reject("one at a time") if active else Admission.start()

    async with receiver_factory(plugins={"o": OnlyOne()}) as rx:
        await rx.sessions.request(request())
        with pytest.raises(SessionRejected, match="one at a time"):
            await rx.sessions.request(request(peer="192.0.2.21"))


async def test_hook_receiver_session_started(receiver_factory: Any) -> None:
    started: list[str] = []

    class Plugin:
        @hookimpl
        async def receiver_session_started(self, ctx: Any, session: Any) -> None:
            started.append(session.name)

    async with receiver_factory(plugins={"p": Plugin()}) as rx:
        await rx.sessions.request(request())
        assert started == ["Alice"]


async def test_hook_receiver_session_ended(receiver_factory: Any) -> None:
    ended: list[tuple[str, str]] = []

    class Plugin:
        @hookimpl
        def receiver_session_ended(self, ctx: Any, session: Any, reason: str) -> None:
            ended.append((session.name, reason))

    async with receiver_factory(plugins={"p": Plugin()}) as rx:
        session = await rx.sessions.request(request())
        await rx.sessions.end(session, "normal")
        await rx.sessions.request(request(name="Carol"))
    assert ended == [("Alice", "normal"), ("Carol", "shutdown")]


async def test_hook_receiver_moderation_action(receiver_factory: Any) -> None:
    actions: list[tuple[str, str]] = []

    class Plugin:
        @hookimpl
        def receiver_moderation_action(self, ctx: Any, session: Any, action: str, actor: str) -> None:
            actions.append((action, actor))

    async with receiver_factory(plugins={"p": Plugin()}) as rx:
        session = await rx.sessions.request(request())
        rx.sessions.pause(session.id, "test")
        rx.sessions.resume(session.id, "test")
        await rx.sessions.kick(session.id, "test")
        audit = (rx.state_dir / "audit.log").read_text()
    assert actions == [("pause", "test"), ("resume", "test"), ("kick", "test")]
    assert audit.count('"actor": "test"') == 3  # core_admin's audit log saw them too


async def test_hook_receiver_meeting_id(receiver_factory: Any) -> None:
    issued = iter(["4711000", "4711001"])

    class Cloud:
        @hookimpl
        def receiver_meeting_id(self, ctx: Any, previous: str | None) -> str:
            return next(issued)

    async with receiver_factory(plugins={"c": Cloud()}) as rx:
        assert rx.sessions.meeting.current == "4711000"
        session = await rx.sessions.request(request())
        await rx.sessions.end(session)  # the room goes idle: next meeting
        assert rx.sessions.meeting.current == "4711001"

    class Invalid:
        @hookimpl
        def receiver_meeting_id(self, ctx: Any, previous: str | None) -> str:
            return "not digits"

    async with receiver_factory(plugins={"i": Invalid()}) as rx:
        assert rx.sessions.meeting.current.isdigit() and len(rx.sessions.meeting.current) == 6


# ----------------------------------------------------------------------------------- media/display


async def test_hook_receiver_register_decoders(receiver_factory: Any) -> None:
    class Hardware:
        @hookimpl
        def receiver_register_decoders(self, registry: Any) -> None:
            registry.add(DecoderSpec("hw-h264", "video", ("h264",), 512, PassthroughDecoder))

    async with receiver_factory(plugins={"hw": Hardware()}) as rx:
        assert rx.media.select(MediaCaps.video("h264")).name == "hw-h264"
    async with receiver_factory(plugins={"hw": Hardware()}, config={"decoders": {"rank": {"hw-h264": 0}}}) as rx:
        assert rx.media.select(MediaCaps.video("h264")).name == "pyav-h264"  # rank 0: never auto-picked


async def test_hook_receiver_select_decoder(receiver_factory: Any) -> None:
    class Marginal:
        @hookimpl
        def receiver_register_decoders(self, registry: Any) -> None:
            registry.add(DecoderSpec("soft-h264", "video", ("h264",), RANK_MARGINAL, PassthroughDecoder))

        @hookimpl
        def receiver_select_decoder(self, caps: MediaCaps, candidates: Sequence[DecoderSpec]) -> DecoderSpec | None:
            assert [c.name for c in candidates] == ["pyav-h264", "soft-h264"]
            return candidates[-1]

    async with receiver_factory(plugins={"m": Marginal()}) as rx:
        assert rx.media.select(MediaCaps.video("h264")).name == "soft-h264"


async def test_hook_receiver_register_display_backends(receiver_factory: Any) -> None:
    from receiver_core.testing import RecordingDisplayPlugin

    plugin = RecordingDisplayPlugin()
    async with receiver_factory(plugins={"rec": plugin}, config={"display": {"backend": "recording"}}) as rx:
        assert rx.display.backend is plugin.display
        await asyncio.sleep(0.2)
        assert plugin.display.frames >= 1 and plugin.display.latest.shape == (1620, 1920)
    with pytest.raises(ConfigError, match="display.backend: unknown backend 'nope'"):
        async with receiver_factory(config={"display": {"backend": "nope"}}):
            pass

    class Squatter:
        @hookimpl
        def receiver_register_display_backends(self, registry: Any) -> None:
            registry.add("headless", lambda receiver: None)

    with pytest.raises(PluginError,
                       match=r"display backend 'headless' registered twice \(by 'squat' and 'display_backends'\)"):
        async with receiver_factory(plugins={"squat": Squatter()}):
            pass


async def test_hook_receiver_register_audio_backends(receiver_factory: Any) -> None:
    class Sink:
        name = "memory"

        def __init__(self) -> None:
            self.opened: tuple[int, int] | None = None

        def open(self, sample_rate: int, channels: int) -> None:
            self.opened = (sample_rate, channels)

        def write(self, pcm: bytes) -> None:
            pass

        def close(self) -> None:
            pass

        def status(self) -> dict[str, Any]:
            return {"backend": self.name}

    sink = Sink()

    class Plugin:
        @hookimpl
        def receiver_register_audio_backends(self, registry: Any) -> None:
            registry.add("memory", lambda receiver: sink)

    async with receiver_factory(plugins={"p": Plugin()}, config={"audio": {"backend": "memory"}}) as rx:
        assert rx.audio.backend is sink and sink.opened == (48000, 2)


async def test_hook_receiver_layout(receiver_factory: Any) -> None:
    class Corner:
        @hookimpl
        def receiver_layout(self, ctx: Any, screen: Any, sessions: Sequence[Any]) -> Layout:
            tiles = [Tile(s.id, Rect(0, 0, screen.width // 4, screen.height // 4)) for s in sessions[:1]]
            return Layout(tiles=tiles, audio_focus=sessions[0].id if sessions else None, name="corner")

    async with receiver_factory(plugins={"c": Corner()}) as rx:
        session = await rx.sessions.request(request())
        assert rx.display.layout.name == "corner"
        assert rx.display.layout.tiles[0].rect == Rect(0, 0, 480, 270)
        assert rx.audio.focus == session.id

    class Invalid:
        @hookimpl
        def receiver_layout(self, ctx: Any, screen: Any, sessions: Sequence[Any]) -> Layout:
            return Layout(tiles=[Tile(s.id, Rect(0, 0, 99999, 10)) for s in sessions])

    async with receiver_factory(plugins={"i": Invalid()}) as rx:
        await rx.sessions.request(request())
        assert rx.display.layout.name == "fullscreen"  # invalid answer: full-screen fallback


async def test_hook_receiver_overlays(receiver_factory: Any) -> None:
    class Plugin:
        @hookimpl
        def receiver_overlays(self, ctx: Any, screen: Any, state: Any) -> list[Overlay]:
            return [Overlay(OverlayKind.CONNECT, text=f"Join {state.name}")]

    async with receiver_factory(plugins={"p": Plugin()}) as rx:
        await rx.display.render_idle()
        texts = {o.text for o in rx.display.overlays}
        assert {"Join Test Room", "Test Room", "192.0.2.10"} <= texts


# ---------------------------------------------------------------------------------------- network


async def test_hook_receiver_network_changed(receiver_factory: Any) -> None:
    changes: list[Any] = []

    class Plugin:
        @hookimpl
        async def receiver_network_changed(self, ctx: Any, change: Any) -> None:
            changes.append(change)

        @hookimpl
        def receiver_mdns_services(self, ctx: Any, interface: NetInterface) -> list[ServiceAdvertisement]:
            return [ServiceAdvertisement("_test._tcp", "svc", 7000)]

    net = FakeNet.single("eth0", "192.0.2.10")
    async with receiver_factory(plugins={"p": Plugin()}, net=net) as rx:
        net.set_addresses("eth0", "192.0.2.77/24")
        await net.apply()
        assert changes and changes[-1].changed == ("eth0",)
        # discovery already followed when the plugin was told
        assert rx.mdns.backend.services[("_test._tcp", "svc")][0].addresses == ("192.0.2.77",)


# ------------------------------------------------------------------------------------------ admin


async def test_hook_receiver_admin_routes(receiver_factory: Any) -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": True})

    class Plugin:
        @hookimpl
        def receiver_admin_routes(self, ctx: Any) -> list[Route]:
            return [Route("GET", "/hello", hello), Route("POST", "/join", hello, public=True),
                    Route("POST", "/settings", hello)]

    async with receiver_factory(plugins={"p": Plugin()},
                                config={"status": {"admin_password_hash": _hash("pw")}}) as rx, \
            aiohttp.ClientSession() as http:
        base = f"{rx.admin.url}/plugins/p"
        assert (await (await http.get(f"{base}/hello")).json()) == {"hello": True}
        assert (await http.post(f"{base}/join")).status == 200  # public
        assert (await http.post(f"{base}/settings")).status == 401  # needs the admin password


async def test_hook_receiver_status(receiver_factory: Any) -> None:
    class Plugin:
        @hookimpl
        def receiver_status(self, ctx: Any) -> dict[str, Any]:
            return {"senders": 0}

    async with receiver_factory(plugins={"p": Plugin()}) as rx, aiohttp.ClientSession() as http:
        status = await (await http.get(f"{rx.admin.url}/api/status")).json()
        entry = next(p for p in status["plugins"] if p["name"] == "p")
        assert entry["status"] == {"senders": 0} and entry["hooks"] == ["receiver_status"]


_HASHES: dict[str, str] = {}


def _hash(password: str) -> str:
    from receiver_core.admin.auth import hash_password

    if password not in _HASHES:
        _HASHES[password] = hash_password(password, n=2**10)
    return _HASHES[password]


async def test_hook_receiver_cli_commands(receiver_factory: Any, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """``montage-receiver <plugin> <command>``: the command's arguments, its run in the CLI process with
    a client of the running box (here calling the plugin's own admin route), its exit status; a plugin
    named like a core command, a command given twice and a raising plugin are refused, the rest works."""
    import argparse

    from receiver_core import BoxClient, CliCommand
    from receiver_core import cli as cli_module

    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"echo": (await request.json())["word"]})

    def arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("word")

    def shout(args: argparse.Namespace, client: BoxClient) -> int:
        status, answer = client.request("POST", "/plugins/tools/echo", {"word": args.word})
        print(f"{status} {answer['echo'].upper()}")
        return 0 if status == 200 else 1

    class Tools:
        @hookimpl
        def receiver_admin_routes(self, ctx: Any) -> list[Route]:
            return [Route("POST", "/echo", echo)]

        @hookimpl
        def receiver_cli_commands(self, ctx: Any) -> list[CliCommand]:
            return [CliCommand("shout", "say it loud", shout, arguments),
                    CliCommand("shout", "again", lambda args, client: 3),
                    CliCommand("fail", "exit 3", lambda args, client: 3)]

    class NamedLikeACoreCommand:
        @hookimpl
        def receiver_cli_commands(self, ctx: Any) -> list[CliCommand]:
            return [CliCommand("all", "clash", lambda args, client: 0)]

    class Raises:
        @hookimpl
        def receiver_cli_commands(self, ctx: Any) -> list[CliCommand]:
            raise RuntimeError("no commands today")

    with pytest.raises(ValueError, match="lowercase"):
        CliCommand("Bad Name", "", lambda args, client: 0)
    async with receiver_factory(plugins={"tools": Tools()}) as rx:
        _config, pm = load_plugins_and_config({}, environ={}, entry_points=[], extra_plugins=[
            ("tools", Tools()), ("status", NamedLikeACoreCommand()), ("raises", Raises())])
        port = int(rx.admin.url.rsplit(":", 1)[1])  # the config says 0: any free port
        config = attrs.evolve(rx.config, status=attrs.evolve(rx.config.status, port=port))
        monkeypatch.setattr(cli_module, "_load", lambda path: (config, pm))
        assert await asyncio.to_thread(cli_module.main, ["tools", "shout", "hello"]) == 0
        out, err = capsys.readouterr()
        assert out.strip() == "200 HELLO"
        assert "plugin status: commands refused: 'status' is a core command" in err
        assert "plugin tools: command 'shout' refused: given twice" in err
        assert pm.records["raises"].state.name.lower() == "failed"
        assert await asyncio.to_thread(cli_module.main, ["tools", "fail"]) == 3
        with pytest.raises(SystemExit) as usage:  # argparse: the plugin's own argument is required
            await asyncio.to_thread(cli_module.main, ["tools", "shout"])
        assert usage.value.code == 2
        with pytest.raises(SystemExit):
            await asyncio.to_thread(cli_module.main, ["raises", "anything"])
