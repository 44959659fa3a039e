"""A third-party plugin as its own distribution (tests/plugins/receiver-plugin-demo), pip-installed by
the test run: discovered through its entry point, configured through its typed section, disabled
before import, its failures isolated."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from receiver_core import SessionRejected, SessionRequest
from receiver_core.app import load_plugins_and_config
from receiver_core.errors import ConfigError

# every installed plugin loads (autoload), as on a box; the example's UDP port is made ephemeral
AUTOLOAD = {"plugins": {"autoload": True}, "plugin": {"mpegts": {"port": 0}}}


def with_demo(**demo: Any) -> dict[str, Any]:
    return {**AUTOLOAD, "plugin": {**AUTOLOAD["plugin"], "demo": demo}}


def test_discovered_through_its_entry_point() -> None:
    _cfg, pm = load_plugins_and_config(AUTOLOAD, environ={})
    demo = pm.records["demo"]
    assert (demo.distribution, demo.version, demo.origin, demo.state.value) == \
        ("receiver-plugin-demo", "0.3.0", "entry-point", "loaded")
    assert {"receiver_listeners", "receiver_mdns_services", "receiver_config_sections"} <= set(pm.hooks_of("demo"))
    broken = pm.records["broken"]
    assert broken.state.value == "failed" and "import failed: ImportError" in broken.error


def test_configured_through_its_typed_section() -> None:
    cfg, _pm = load_plugins_and_config(with_demo(greeting="hej", port=0), environ={})
    assert cfg.plugin["demo"].greeting == "hej"
    with pytest.raises(ConfigError, match=r"^plugin\.demo\.port: must be 0\.\.65535$"):
        load_plugins_and_config(with_demo(port=70000), environ={})
    with pytest.raises(ConfigError, match=r"^plugin\.demo\.colour: unknown key$"):
        load_plugins_and_config(with_demo(colour="red"), environ={})


def test_disabled_plugin_is_not_even_imported(tmp_path: Path) -> None:
    probe = ("import sys; from receiver_core.app import load_plugins_and_config as load; "
             "cfg, pm = load({'plugins': {'disabled': %r}}, environ={}); "
             "print(pm.records['demo'].state.value, 'receiver_plugin_demo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe % ["demo"]], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["disabled", "False"]
    out = subprocess.run([sys.executable, "-c", probe % []], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["loaded", "True"]
    config = tmp_path / "receiver.toml"
    config.write_text('[plugins]\ndisabled = ["demo"]\n[status]\nport = 1\n')
    listing = subprocess.run([sys.executable, "-m", "receiver_core.cli", "--config", str(config), "plugins", "list",
                              "--json"], capture_output=True, text=True, check=True)
    assert {p["name"]: p["state"] for p in json.loads(listing.stdout)}["demo"] == "disabled"


async def test_runs_in_the_box(receiver_factory: Any) -> None:
    async with receiver_factory(installed=["demo", "mpegts"], config=with_demo(greeting="hello there")) as rx, \
            aiohttp.ClientSession() as http:
        port = rx.listeners.port("demo", "echo")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await reader.readline() == b"hello there\n"
        writer.write(b"ping\n")
        assert await reader.readline() == b"ping\n"
        writer.close()
        assert rx.mdns.backend.names("_montage-demo._tcp") == ["Test Room demo"]
        assert f"Demo echo: tcp port {port}" in {o.text for o in rx.display.collect_overlays()}
        status = await (await http.get(f"{rx.admin.url}/api/status")).json()
        demo = next(p for p in status["plugins"] if p["name"] == "demo")
        assert demo["state"] == "running" and demo["status"] == {"greeting": "hello there"}


async def wait_failed(rx: Any, name: str, timeout: float = 3.0) -> str:
    for _ in range(int(timeout / 0.05)):
        if rx.plugins.records[name].state.value == "failed":
            await asyncio.sleep(0.1)  # let the retirement finish
            return rx.plugins.records[name].error
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} never failed")


@pytest.mark.parametrize("fail_in", ["startup", "mdns", "overlays", "task", "status"])
async def test_fault_isolation_of_a_third_party_plugin(receiver_factory: Any, fail_in: str) -> None:
    async with receiver_factory(installed=["demo", "mpegts"], config=with_demo(fail_in=fail_in)) as rx, \
            aiohttp.ClientSession() as http:
        if fail_in in ("status",):
            await http.get(f"{rx.admin.url}/api/status")
        if fail_in == "overlays":
            await rx.display.render_idle()
        error = await wait_failed(rx, "demo")
        assert f"demo: {fail_in} failure on purpose" in error or f"demo: {fail_in} crash on purpose" in error
        # the plugin is out: no advert, no socket
        assert rx.mdns.backend.names("_montage-demo._tcp") == []
        assert rx.listeners.port("demo", "echo") is None
        # the box and the other plugins keep going
        response = await http.get(f"{rx.admin.url}/api/status")
        assert response.status == 200
        states = {p["name"]: p["state"] for p in (await response.json())["plugins"]}
        assert states["demo"] == "failed" and states["mpegts"] == "running" and states["pin_auth"] == "running"
        session = await rx.sessions.request(SessionRequest("test", "192.0.2.5", "Alice"))
        assert session.visible
        await rx.display.render_idle()
        assert "Test Room" in {o.text for o in rx.display.overlays}


async def test_a_raising_authorizer_fails_closed(receiver_factory: Any) -> None:
    async with receiver_factory(installed=["demo", "mpegts"], config=with_demo(fail_in="authorize")) as rx:
        with pytest.raises(SessionRejected, match="could not check"):
            await rx.sessions.request(SessionRequest("test", "192.0.2.5", "Alice"))
        assert "authorize failure on purpose" in await wait_failed(rx, "demo")
        # once the failed plugin is retired, the remaining policy decides again
        assert (await rx.sessions.request(SessionRequest("test", "192.0.2.5", "Alice"))).visible
