"""``Receiver``: owns the plugin manager, config, sessions, discovery, network, media and display.

Startup order: configure -> network snapshot -> display/media -> plugin startup -> listeners ->
Wi-Fi Display + mDNS -> status API. Shutdown runs the reverse. A plugin that fails anywhere is
retired on its own (sessions ended, tasks cancelled, listeners closed, adverts withdrawn) while
the box keeps running.
"""

from __future__ import annotations

import asyncio
import errno
import importlib.metadata
import logging
import os
import signal
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from . import config as config_mod
from ._version import __version__
from .admin.tally import ErrorTally
from .aio import TaskSupervisor, await_me_maybe
from .attribution import CORE_OWNER
from .config import Config, build_config, plugin_settings, read_toml
from .config.schema import SectionRegistry
from .discovery.mdns import MdnsBackend, MdnsPublisher, ZeroconfBackend
from .discovery.p2p import NullP2P, P2PBackend, P2POwner
from .errors import ConfigError, HookFailed, NotReady, PluginError, describe_error
from .listeners import ListenerManager
from .model import NetChange, NetSnapshot
from .net.monitor import NetlinkMonitor, NetSource
from .plugins import BUILTINS, BuiltinPlugin, PluginState, ReceiverPluginManager
from .session.manager import SessionManager

if TYPE_CHECKING:
    from .admin.api import AdminServer
    from .display.service import DisplayService
    from .media.audio import AudioOutput
    from .media.engine import MediaEngine

__all__ = ["Receiver", "load_plugins_and_config"]

log = logging.getLogger(__name__)
T = TypeVar("T")
_ACCEPT_RESOURCE_ERRORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
#: SIGTERM must end the process within 5 s (systemd waits 90): the status API gets this much of it.
ADMIN_STOP_SECONDS = 3.0
#: [session] settings a SIGHUP applies at run time (the rest of the section needs a restart)
LIVE_SESSION_KEYS = ("pin_mode", "pin", "pin_length")


def load_plugins_and_config(
    raw: Mapping[str, Any],
    *,
    source: str | None = None,
    environ: Mapping[str, str] | None = None,
    builtins: Iterable[BuiltinPlugin] = BUILTINS,
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
    extra_plugins: Iterable[tuple[str, object]] = (),
) -> tuple[Config, ReceiverPluginManager]:
    """Steps 1-9 of the loading order: plugins settings, blocking, loading, sections, validation."""
    settings = plugin_settings(raw, environ)
    pm = ReceiverPluginManager()
    pm.load(settings, builtins=builtins, entry_points=entry_points)
    for name, plugin in extra_plugins:
        pm.register_plugin(plugin, name, origin="runtime")
    pm.check_hooks()
    registry = SectionRegistry()
    try:
        pm.call_each("receiver_config_sections", raise_errors=True, registry=registry)
    except HookFailed as exc:
        if isinstance(exc.error, ConfigError):
            raise exc.error from None
        raise ConfigError(f"plugin.{exc.plugin}", f"receiver_config_sections raised {describe_error(exc.error)}") from exc
    states = {name: record.active for name, record in pm.records.items()}
    config = build_config(raw, registry, states, plugins=settings, source=source)
    return config, pm


class Receiver:
    """The box. Build with ``Receiver.load(path)`` (tests: ``receiver_core.testing.started_receiver``),
    then ``async with receiver``. Plugins never see it: each gets its ``PluginContext``."""

    def __init__(
        self,
        config: Config,
        plugins: ReceiverPluginManager,
        *,
        mdns: MdnsBackend | None = None,
        p2p: P2PBackend | None = None,
        net: NetSource | None = None,
    ) -> None:
        self.config = config
        self.plugins = plugins
        self.version = __version__
        self.started_at: float | None = None
        self.state_dir = Path(config.receiver.state_dir)
        self.supervisor = TaskSupervisor(self._task_crashed)
        self.net: NetSource = net or NetlinkMonitor(config.network.roles, config.network.debounce_ms / 1000)
        self.mdns = MdnsPublisher(self, mdns or ZeroconfBackend())
        self.p2p = P2POwner(self, p2p or NullP2P())
        self.listeners = ListenerManager(self)
        self.sessions: SessionManager = None  # type: ignore[assignment]  # created in start()
        self.media: MediaEngine | None = None
        self.display: DisplayService | None = None
        self.audio: AudioOutput | None = None
        self.admin: AdminServer | None = None
        self._unload: dict[str, list[Callable[[], Any]]] = {}
        self._retiring: set[str] = set()
        self._stopping = False
        self._running = False  # startup finished
        self._loop: asyncio.AbstractEventLoop | None = None
        self._net_lock = asyncio.Lock()
        self.loop_errors = ErrorTally(log)
        self._previous_loop_handler: Any = None
        plugins.on_failure(self._plugin_failed)
        plugins.bind_host(self)

    # ------------------------------------------------------------------------------------ building

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Receiver:
        """Read ``path`` (default ``/etc/montage-receiver/receiver.toml``, absent = defaults)."""
        raw, source = read_toml(path)
        loader_keys = ("environ", "builtins", "entry_points", "extra_plugins")
        loader = {k: kwargs.pop(k) for k in loader_keys if k in kwargs}
        config, pm = load_plugins_and_config(raw, source=source, **loader)
        return cls(config, pm, **kwargs)

    # ------------------------------------------------------------------------------------ properties

    @property
    def name(self) -> str:
        return self.config.receiver.name

    @property
    def network(self) -> NetSnapshot:
        return self.net.snapshot

    def advertised_addresses(self) -> list[str]:
        roles = set(self.config.network.advertise_on)
        return [ip for iface in self.network.with_roles(roles) for ip in iface.ipv4]

    # ------------------------------------------------------------------------------------ contexts

    @property
    def running(self) -> bool:
        return self.started_at is not None and not self._stopping

    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the receiver is not started")
        return self._loop

    def listener_port(self, plugin: str, name: str) -> int | None:
        return self.listeners.port(plugin, name)

    def spawn(self, coro: Coroutine[Any, Any, T], name: str | None = None) -> asyncio.Task[T]:
        """Start a supervised task of the core itself (plugins use ``ctx.spawn``)."""
        return self.supervisor.spawn(coro, CORE_OWNER, name)

    def spawn_for(self, owner: str, coro: Coroutine[Any, Any, T], name: str | None) -> asyncio.Task[T]:
        """A supervised task owned by ``owner``: a crash retires that plugin."""
        if owner in self.plugins.records and not self.plugins.records[owner].active:
            coro.close()
            raise PluginError(f"plugin {owner!r} is {self.plugins.records[owner].state.value}: it starts no work")
        return self.supervisor.spawn(coro, owner, name)

    def add_unload(self, owner: str, callback: Callable[[], Any]) -> None:
        self._unload.setdefault(owner, []).append(callback)

    def call_hook(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a hook a plugin declared through ``receiver_addhooks`` (each implementation, isolated)."""
        return self.plugins.call_each(hook_name, **kwargs)

    def plugin_crashed(self, owner: str, error: BaseException, where: str) -> None:
        self._task_crashed(owner, error, where)

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Errors the event loop reports itself: running out of descriptors while accepting (a
        connection flood on any listener) is counted and logged once a minute, never a traceback
        per connection; anything else goes to asyncio's own handler."""
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno in _ACCEPT_RESOURCE_ERRORS:
            self.loop_errors.note(f"accept {errno.errorcode.get(error.errno or 0, '?')}",
                                  f"out of resources accepting connections ({error.strerror}); "
                                  "new connections wait until descriptors are free", level=logging.ERROR)
            return
        loop.default_exception_handler(context)

    def _task_crashed(self, owner: str, exc: BaseException, where: str = "task") -> None:
        if owner == CORE_OWNER:
            log.error("core %s crashed", where, exc_info=exc)
        else:
            self.plugins.mark_failed(owner, exc, hook=where)

    def _plugin_failed(self, name: str, error: str) -> None:
        if self.started_at is None or self._stopping or name in self._retiring:
            return
        self._retiring.add(name)
        self.supervisor.spawn(self._retire(name), CORE_OWNER, f"retire:{name}")

    async def _retire(self, name: str) -> None:
        """Take a failed plugin out without disturbing the rest."""
        for session in [s for s in self.sessions.all() if s.protocol == name]:
            await self.sessions.end(session, "error: the protocol plugin failed")
        await self.supervisor.cancel_owner(name)
        await self.listeners.close_plugin(name)
        await self._unload_plugin(name)
        await self.mdns.refresh(self.network)
        await self.p2p.refresh()
        if self.display is not None:
            self.display.invalidate()
        log.warning("plugin %s retired: %s", name, self.plugins.records[name].error)

    async def _unload_plugin(self, name: str) -> None:
        try:
            await self.plugins.acall_each("receiver_shutdown", only=name, raise_errors=True)
        except HookFailed as exc:
            log.error("plugin %s: receiver_shutdown raised %s", name, describe_error(exc.error))
        for callback in reversed(self._unload.pop(name, [])):
            try:
                await await_me_maybe(callback())
            except Exception as exc:
                log.error("plugin %s: unload callback raised %s", name, describe_error(exc))

    # ------------------------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Receiver:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start everything; if any step fails, what already started is stopped (goodbyes sent) first."""
        try:
            await self._start()
        except BaseException:
            log.error("startup failed; stopping what already started")
            await self.stop()
            raise

    async def _start(self) -> None:
        from .display.registry import OutputSettings, resolve_outputs
        from .display.service import DisplayService
        from .media.audio import AudioOutput
        from .media.engine import MediaEngine

        self.started_at = time.monotonic()
        self._loop = asyncio.get_running_loop()
        self._previous_loop_handler = self._loop.get_exception_handler()
        self._loop.set_exception_handler(self._loop_exception)
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.sessions = SessionManager(self, state_dir=self.state_dir)
        self.supervisor.spawn(self.sessions.watch(), CORE_OWNER, "session-watchdog")
        self.plugins.call_each("receiver_configure")
        await self.net.start(self._network_changed)
        self.media = MediaEngine(self)
        outputs = OutputSettings(display=self.config.display, audio=self.config.audio, box_name=self.name)
        display_backend, audio_backend = resolve_outputs(self.plugins, outputs)
        self.audio = AudioOutput(audio_backend.factory(outputs), self.config.audio.sample_rate,
                                 self.config.audio.channels)
        self.audio.open()
        self.display = DisplayService(self, display_backend, outputs, self.audio)
        await self.display.start()
        self.media.start(self.display, self.audio)
        for name in [n for n in self.plugins.active_names()]:
            await self._start_plugin(name)
        await self.listeners.bind_all()
        await self.p2p.refresh()
        await self.mdns.refresh(self.network)
        self._start_pin_timer()
        if self.config.status.enabled:
            from .admin.api import AdminServer

            self.admin = AdminServer(self)
            await self.admin.start()
        self.display.invalidate()
        self._running = True
        log.info("receiver %r started (plugins: %s)", self.name, ", ".join(self.plugins.active_names()))

    async def _start_plugin(self, name: str, attempt: int = 0) -> None:
        record = self.plugins.records[name]
        if not record.active:
            return
        try:
            await self.plugins.acall_each("receiver_startup", only=name, raise_errors=True)
        except HookFailed as failed:
            if not isinstance(failed.error, NotReady):
                self.plugins.mark_failed(name, failed.error, hook="receiver_startup")
                return
            exc = failed.error
            delay = min(30.0, 2.0 ** attempt)
            record.error = f"not ready: {describe_error(exc)} (retry in {delay:.0f} s)"
            log.warning("plugin %s not ready (%s); retrying in %.0f s", name, exc, delay)
            self.supervisor.spawn(self._retry_start(name, attempt + 1, delay), CORE_OWNER, f"retry:{name}")
            return
        record.state = PluginState.RUNNING
        record.error = None

    async def _retry_start(self, name: str, attempt: int, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._start_plugin(name, attempt)
        if self.plugins.records[name].state is PluginState.RUNNING:
            await self.listeners.bind_all(only=name)
            await self.p2p.refresh()
            await self.mdns.refresh(self.network)

    def _start_pin_timer(self) -> None:
        minutes = self.config.session.pin_rotate_minutes
        if minutes and self.sessions.pin.mode == "rotating":
            async def rotate() -> None:
                while True:
                    await asyncio.sleep(minutes * 60)
                    self.sessions.pin.rotate()
            self.supervisor.spawn(rotate(), CORE_OWNER, "pin-rotation")

    async def stop(self) -> None:
        if self.started_at is None or self._stopping:
            return
        self._stopping = True
        if self.admin is not None:
            try:  # open streams (an MJPEG viewer) must not hold the shutdown: they are cut
                await asyncio.wait_for(self.admin.stop(), ADMIN_STOP_SECONDS)
            except TimeoutError:
                log.warning("status API clients still connected after %.0f s: cut off", ADMIN_STOP_SECONDS)
        if self.sessions is not None:
            await self.sessions.end_all("shutdown")
        await self.mdns.close()
        await self.p2p.close()
        await self.listeners.close_all()
        for name in reversed(self.plugins.active_names()):
            await self._unload_plugin(name)
        await self.supervisor.cancel_owner(None)
        await self.net.stop()
        if self.media is not None:
            await self.media.stop()
        if self.display is not None:
            await self.display.stop()
        if self.audio is not None:
            self.audio.close()
        for callback in reversed(self._unload.pop(CORE_OWNER, [])):
            try:
                await await_me_maybe(callback())
            except Exception as exc:
                log.error("core unload callback raised %s", describe_error(exc))
        if self._loop is not None:
            self._loop.set_exception_handler(self._previous_loop_handler)
        log.info("receiver stopped")

    async def run_until_signalled(self) -> None:
        """Run until SIGINT or SIGTERM; SIGHUP re-reads the box name and network settings.

        A SIGHUP that arrives while the box starts or stops is logged and ignored (never fatal).
        """
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._sighup)
        try:
            await self.start()
            if not stop.is_set():
                await stop.wait()
            log.info("signal received, shutting down")
        finally:
            await self.stop()

    def _sighup(self) -> None:
        if not self._running or self._stopping:
            log.info("SIGHUP while the box is starting or stopping: ignored")
            return
        self.supervisor.spawn(self.reload(), CORE_OWNER, "reload")

    # ------------------------------------------------------------------------------------ changes

    async def _network_changed(self, change: NetChange) -> None:
        async with self._net_lock:
            await self.mdns.refresh(change.snapshot)
            await self.p2p.refresh()
            if self.display is not None:
                self.display.invalidate()
            await self.plugins.acall_each("receiver_network_changed", change=change)

    async def rename(self, name: str) -> None:
        """Change the box name at run time: adverts, Wi-Fi Direct name and idle screen follow."""
        self.config = self.config.evolve_section("receiver", name=name)
        await self._republish()

    async def reload(self) -> None:
        """Re-read the config file; apply the box name, network settings and the PIN setting (``[session]``
        ``pin_mode``, ``pin``, ``pin_length``: adverts follow, e.g. AirPlay's ``pw``); log what needs a restart."""
        if self.config.source is None:
            log.info("no config file to reload")
            return
        try:
            raw, source = read_toml(self.config.source)
            new, _pm = load_plugins_and_config(raw, source=source)
        except ConfigError as exc:
            log.error("config reload refused: %s", exc)
            return
        before = config_mod.config_to_dict(self.config, redact=False)
        after = config_mod.config_to_dict(new, redact=False)
        for snapshot in (before, after):  # the PIN setting is applied live (below): not a restart reason
            for key in LIVE_SESSION_KEYS:
                snapshot.get("session", {}).pop(key, None)
        restart = [name for name in after if name not in ("receiver", "network") and after[name] != before.get(name)]
        if restart:
            log.warning("config sections %s changed; they take effect after a restart", ", ".join(restart))
        live_session = {key: getattr(new.session, key) for key in LIVE_SESSION_KEYS}
        self.config = attrs.evolve(self.config, receiver=attrs.evolve(self.config.receiver, name=new.receiver.name),
                                   network=new.network, session=attrs.evolve(self.config.session, **live_session))
        if self.sessions is not None and self.sessions.apply_pin_setting(self.config.session, "config-reload"):
            log.info("PIN setting applied: %s", self.config.session.pin_mode)
        await self._republish()

    async def _republish(self) -> None:
        await self.mdns.refresh(self.network)
        await self.p2p.refresh()
        if self.display is not None:
            self.display.invalidate()

    # ------------------------------------------------------------------------------------ status

    def plugin_status(self) -> list[dict[str, Any]]:
        extra = dict(self.plugins.call_each("receiver_status")) if self.started_at else {}
        out = []
        for name, record in sorted(self.plugins.records.items()):
            manifest = record.manifest
            out.append({
                "name": name,
                "display_name": manifest.display_name if manifest else name,
                "version": record.version,
                "distribution": record.distribution,
                "origin": record.origin,
                "state": record.state.value,
                "essential": record.essential,
                "error": record.error,
                "hooks": self.plugins.hooks_of(name),
                "provides": list(manifest.provides) if manifest else [],
                "summary": manifest.summary if manifest else "",
                "service_types": list(manifest.service_types) if manifest else [],
                "status": extra.get(name),
            })
        return out

    def status(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "uptime_s": round(time.monotonic() - self.started_at, 1) if self.started_at else 0,
            "meeting_id": self.sessions.meeting.current if self.sessions else None,
            "pin_mode": self.config.session.pin_mode,
            "pin_required": bool(self.sessions and self.sessions.pin.required),
            "approval": self.config.session.approval,
            "plugins": self.plugin_status(),
            **(self.sessions.status() if self.sessions else {"sessions": []}),
            "network": {"interfaces": [attrs.asdict(i) for i in self.network.interfaces],
                        "advertised_addresses": self.advertised_addresses()},
            "mdns": self.mdns.status(),
            "p2p": self.p2p.status(),
            "listeners": self.listeners.status(),
            "display": self.display.status() if self.display else None,
        }

