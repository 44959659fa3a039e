"""The plugin host: block before import, manifests, unknown hooks, requirements, isolated calls."""

from __future__ import annotations

import importlib.metadata
import logging
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from receiver_core import AuthDecision, SessionRejected, SessionRequest, hookimpl
from receiver_core.app import load_plugins_and_config
from receiver_core.config.schema import PluginsSection as PluginSettings
from receiver_core.errors import ConfigError, HookFailed, PluginError
from receiver_core.plugins import PluginState, ReceiverPluginManager

GROUP = "receiver_core.plugins"


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("rxtest_")]:
        del sys.modules[name]


def write_plugin(directory: Path, module: str, body: str) -> importlib.metadata.EntryPoint:
    marker = directory / f"{module}.imported"
    source = textwrap.dedent(f"""
        from pathlib import Path
        Path({str(marker)!r}).write_text("imported")
        from receiver_core import PluginManifest, hookimpl
    """) + textwrap.dedent(body)
    (directory / f"{module}.py").write_text(source)
    return importlib.metadata.EntryPoint(name=module.removeprefix("rxtest_"), value=module, group=GROUP)


GOOD = """
manifest = PluginManifest(name="{name}", display_name="Good", version="1.2.3")

@hookimpl
def receiver_status():
    return {{"ok": True}}
"""


def test_disabled_plugin_is_never_imported(plugin_dir: Path) -> None:
    ep = write_plugin(plugin_dir, "rxtest_quiet", GOOD.format(name="quiet"))
    pm = ReceiverPluginManager()
    pm.load(PluginSettings(disabled=("quiet",)), entry_points=[ep])
    assert not (plugin_dir / "rxtest_quiet.imported").exists()
    assert pm.records["quiet"].state is PluginState.DISABLED
    pm = ReceiverPluginManager()
    pm.load(PluginSettings(), entry_points=[ep])
    assert (plugin_dir / "rxtest_quiet.imported").exists()
    assert pm.records["quiet"].state is PluginState.LOADED and pm.records["quiet"].version == "1.2.3"


def test_essential_plugins_cannot_be_disabled() -> None:
    with pytest.raises(ConfigError, match="plugins.disabled: 'core_admin' cannot be disabled"):
        ReceiverPluginManager().load(PluginSettings(disabled=("core_admin",)), entry_points=[])


def test_autoload_off_loads_only_enabled_names(plugin_dir: Path) -> None:
    a = write_plugin(plugin_dir, "rxtest_aa", GOOD.format(name="aa"))
    b = write_plugin(plugin_dir, "rxtest_bb", GOOD.format(name="bb"))
    pm = ReceiverPluginManager()
    pm.load(PluginSettings(autoload=False, enabled=("bb", "ghost")), entry_points=[a, b])
    assert pm.records["aa"].state is PluginState.NOT_ENABLED
    assert not (plugin_dir / "rxtest_aa.imported").exists()
    assert pm.records["bb"].state is PluginState.LOADED
    assert pm.records["ghost"].state is PluginState.MISSING


@pytest.mark.parametrize(("body", "error"), [
    ("raise ImportError('no frobnicator')", "import failed: ImportError: no frobnicator"),
    ("x = 1", "has no 'manifest'"),
    ("manifest = PluginManifest(name='other', display_name='X', version='1')", "does not match the entry-point name"),
    ("manifest = PluginManifest(name='bad', display_name='X', version='1', requires_core='>=99')",
     "requires core >=99"),
    ("manifest = PluginManifest(name='bad', display_name='X', version='1')\n"
     "@hookimpl\ndef receiver_no_such_hook():\n    pass", "unknown hook"),
    ("manifest = PluginManifest(name='bad', display_name='X', version='1')\n"
     "@hookimpl\ndef startup():\n    pass", "does not start with 'receiver_'"),
])
def test_broken_plugins_are_recorded_as_failed_and_the_rest_loads(plugin_dir: Path, body: str, error: str) -> None:
    bad = write_plugin(plugin_dir, "rxtest_bad", body)
    good = write_plugin(plugin_dir, "rxtest_fine", GOOD.format(name="fine"))
    pm = ReceiverPluginManager()
    pm.load(PluginSettings(), entry_points=[bad, good])
    assert pm.records["bad"].state is PluginState.FAILED
    assert error in pm.records["bad"].error
    assert pm.records["fine"].state is PluginState.LOADED
    assert pm.get_plugin("bad") is None


def test_required_plugins_and_versions() -> None:
    eps = [ep for ep in importlib.metadata.entry_points(group=GROUP) if ep.name == "demo"]
    assert eps, "the test distribution receiver-plugin-demo must be installed (scripts/test does it)"
    pm = ReceiverPluginManager()
    pm.load(PluginSettings(required=("receiver-plugin-demo>=0.3",)), entry_points=eps)
    with pytest.raises(ConfigError, match="required but version 0.3.0 is installed"):
        ReceiverPluginManager().load(PluginSettings(required=("receiver-plugin-demo>=9",)), entry_points=eps)
    with pytest.raises(ConfigError, match="required but disabled"):
        ReceiverPluginManager().load(PluginSettings(required=("demo",), disabled=("demo",)), entry_points=eps)
    with pytest.raises(ConfigError, match="plugins.required: 'not a requirement!'"):
        ReceiverPluginManager().load(PluginSettings(required=("not a requirement!",)), entry_points=[])


def test_call_each_isolates_and_retires_a_raising_plugin() -> None:
    class Good:
        @hookimpl
        def receiver_status(self) -> dict[str, int]:
            return {"n": 1}

    class Bad:
        calls = 0

        @hookimpl
        def receiver_status(self) -> dict[str, int]:
            Bad.calls += 1
            raise RuntimeError("kaboom")

    failures: list[tuple[str, str]] = []
    _cfg, pm = load_plugins_and_config({}, environ={}, entry_points=[], extra_plugins=[("good", Good()), ("bad", Bad())])
    pm.on_failure(lambda name, error: failures.append((name, error)))
    results = dict(pm.call_each("receiver_status"))
    assert results["good"] == {"n": 1} and "bad" not in results
    assert failures == [("bad", "receiver_status: RuntimeError: kaboom")]
    assert pm.records["bad"].state is PluginState.FAILED
    pm.call_each("receiver_status")
    assert Bad.calls == 1  # a failed plugin is not called again


def test_call_first_names_the_plugin_and_refuses_coroutines() -> None:
    class Raises:
        @hookimpl
        def receiver_p2p_device_config(self) -> Any:
            raise ValueError("nope")

    class Async:
        @hookimpl
        async def receiver_meeting_id(self, previous: Any) -> str:  # wrong on purpose
            return "123456"

    _cfg, pm = load_plugins_and_config({}, environ={}, entry_points=[],
                                       extra_plugins=[("raises", Raises()), ("async", Async())])
    with pytest.raises(HookFailed, match="raises: receiver_p2p_device_config: ValueError: nope"):
        pm.call_first("receiver_p2p_device_config")
    with pytest.raises(HookFailed, match="async: receiver_meeting_id: answered a synchronous hook with an awaitable"):
        pm.call_first("receiver_meeting_id", previous=None)
    assert pm.records["async"].state is PluginState.FAILED


async def test_authorization_fails_closed(receiver_factory: Any) -> None:
    class Raises:
        @hookimpl(tryfirst=True)
        def receiver_session_authorize(self, request: SessionRequest) -> AuthDecision:
            raise RuntimeError("policy server down")

    async with receiver_factory(plugins={"raises": Raises()}) as rx:
        with pytest.raises(SessionRejected, match="could not check"):
            await rx.sessions.request(SessionRequest("test", "192.0.2.1"))

    class AsyncAllow:
        @hookimpl(tryfirst=True)
        async def receiver_session_authorize(self, request: SessionRequest) -> AuthDecision:
            return AuthDecision.allow()

    async with receiver_factory(plugins={"async_allow": AsyncAllow()},
                                config={"session": {"pin_mode": "fixed", "pin": "2468"}}) as rx:
        with pytest.raises(SessionRejected, match="could not check"):
            await rx.sessions.request(SessionRequest("test", "192.0.2.1"))
        assert rx.plugins.records["async_allow"].state is PluginState.FAILED


async def test_no_authorization_policy_denies(receiver_factory: Any) -> None:
    class NoOpinion:
        @hookimpl
        def receiver_session_authorize(self, request: SessionRequest) -> None:
            return None

    async with receiver_factory(plugins={"n": NoOpinion()}) as rx:
        rx.plugins.unregister(name="pin_auth")  # simulate a build without the essential policy
        with pytest.raises(SessionRejected, match="no authorization policy"):
            await rx.sessions.request(SessionRequest("test", "192.0.2.1"))


def test_hook_tracing_by_environment(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("RECEIVER_TRACE_HOOKS", "1")
    _cfg, pm = load_plugins_and_config({}, environ={}, entry_points=[])
    with caplog.at_level(logging.DEBUG, logger="receiver_core.hooks"):
        pm.call_each("receiver_status")
    assert any("receiver_status" in r.getMessage() for r in caplog.records)


def test_register_twice_is_refused() -> None:
    class P:
        pass

    pm = ReceiverPluginManager()
    pm.register_plugin(P(), "p")
    with pytest.raises(PluginError, match="already registered"):
        pm.register_plugin(P(), "p")
