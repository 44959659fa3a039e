"""The plugin host: block-before-import, built-ins, entry points, manifests, isolated hook calls.

Loading order (``ReceiverPluginManager.load``): block every name in ``plugins.disabled`` (refusing
essential ones) → register the core built-ins → load ``receiver_core.plugins`` entry points (all of
them with ``autoload``, else only ``plugins.enabled``) → ``check_pending`` → ``plugins.required``.

A plugin that fails to import, carries a bad manifest or implements an unknown hook is recorded as
*failed* with its error; the box keeps running without it.
"""

from __future__ import annotations

import contextvars
import enum
import importlib
import importlib.metadata
import inspect
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import attrs
import pluggy
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from . import hookspecs
from ._version import __version__ as CORE_VERSION
from .aio import await_me_maybe
from .errors import ConfigError, PluginError
from .model import PluginManifest

log = logging.getLogger(__name__)
hook_log = logging.getLogger("receiver_core.hooks")

ENTRY_POINT_GROUP = "receiver_core.plugins"


@attrs.frozen
class BuiltinPlugin:
    name: str
    module: str
    essential: bool = False


#: Core behaviour written as plugins, replaceable like any other (unless essential).
BUILTINS: tuple[BuiltinPlugin, ...] = (
    BuiltinPlugin("core_admin", "receiver_core.builtin.core_admin", essential=True),
    BuiltinPlugin("pin_auth", "receiver_core.builtin.pin_auth", essential=True),
    BuiltinPlugin("admission", "receiver_core.builtin.admission"),
    BuiltinPlugin("layouts", "receiver_core.builtin.layouts"),
    BuiltinPlugin("pyav_decoders", "receiver_core.builtin.pyav_decoders"),
    BuiltinPlugin("display_backends", "receiver_core.builtin.display_backends"),
    BuiltinPlugin("idle_screen", "receiver_core.builtin.idle_screen"),
)

#: The plugin whose hook is running (or whose task is running): tasks and unload callbacks
#: created inside a hook are attributed to it.
current_plugin: contextvars.ContextVar[str | None] = contextvars.ContextVar("receiver_current_plugin", default=None)


class PluginState(enum.Enum):
    LOADED = "loaded"          # registered, not started (or the box is not running)
    RUNNING = "running"        # started successfully
    DISABLED = "disabled"      # blocked by config, never imported
    NOT_ENABLED = "not-enabled"  # installed, autoload off and not in plugins.enabled
    MISSING = "missing"        # named in plugins.enabled but not installed
    FAILED = "failed"          # import, manifest, hook or task failure; see ``error``


@attrs.define
class PluginRecord:
    """What the host knows about one plugin, for ``plugins list`` and ``/api/status``."""

    name: str
    origin: str  # builtin | entry-point | runtime
    state: PluginState
    module: object | None = attrs.field(default=None, repr=False)
    manifest: PluginManifest | None = None
    distribution: str | None = None
    version: str | None = None
    essential: bool = False
    error: str | None = None

    @property
    def active(self) -> bool:
        return self.state in (PluginState.LOADED, PluginState.RUNNING)


@attrs.frozen
class PluginSettings:
    """The ``[plugins]`` section, read before any plugin is imported."""

    autoload: bool = True
    disabled: tuple[str, ...] = ()
    enabled: tuple[str, ...] = ()
    required: tuple[str, ...] = ()


class HookFailed(Exception):
    """Raised by ``call_first`` when the answering plugin raised or answered with an awaitable."""

    def __init__(self, hook: str, plugin: str, error: BaseException | str) -> None:
        self.hook = hook
        self.plugin = plugin
        self.error = error
        super().__init__(f"{plugin}: {hook}: {describe_error(error)}")


def describe_error(error: BaseException | str) -> str:
    if isinstance(error, str):
        return error
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class ReceiverPluginManager(pluggy.PluginManager):
    """pluggy's manager plus the receiver's policy: prefix check, records, isolation."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self._failure_listeners: list[Callable[[str, str], None]] = []
        if os.environ.get("RECEIVER_TRACE_HOOKS") == "1":
            self.trace.root.setwriter(lambda text: hook_log.debug(text.rstrip()))
            self.enable_tracing()

    # ------------------------------------------------------------------------------- registration

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None and not name.startswith(hookspecs.PROJECT + "_"):
            raise PluginError(f"{name!r} is marked as a hook implementation but does not start with 'receiver_'")
        return opts

    def register_plugin(
        self,
        plugin: object,
        name: str,
        *,
        origin: str = "runtime",
        essential: bool = False,
        distribution: str | None = None,
        version: str | None = None,
    ) -> PluginRecord:
        """Validate the manifest and register; raises ``PluginError`` when refused."""
        manifest = getattr(plugin, "manifest", None)
        if manifest is None and origin != "runtime":
            raise PluginError(f"plugin {name!r} has no 'manifest' (a receiver_core.PluginManifest)")
        if manifest is not None:
            validate_manifest(manifest, name)
        if name in self.records and self.records[name].active:
            raise PluginError(f"plugin {name!r} is already registered")
        try:
            self.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise PluginError(f"plugin {name!r}: {exc}") from exc
        record = PluginRecord(
            name=name,
            origin=origin,
            state=PluginState.LOADED,
            module=plugin,
            manifest=manifest,
            distribution=distribution,
            version=version or (manifest.version if manifest else None),
            essential=essential,
        )
        self.records[name] = record
        self._after_register(plugin, name)
        return record

    def _after_register(self, plugin: object, name: str) -> None:
        for impl in self._impls("receiver_addhooks"):
            if impl.plugin_name == name:
                try:
                    impl.function(**_kwargs(impl, {"pluginmanager": self}))
                except Exception as exc:  # a plugin that cannot declare its contract cannot run
                    self.unregister(name=name)
                    raise PluginError(f"plugin {name!r}: receiver_addhooks: {describe_error(exc)}") from exc
        observers = self._impls("receiver_plugin_registered")
        for impl in observers:
            if impl.plugin_name == name:
                # a new observer sees everyone registered before it (historic replay)
                for other, other_plugin in self.list_name_plugin():
                    if other != name and other_plugin is not None:
                        self._call_observer(impl, other_plugin, other)
            self._call_observer(impl, plugin, name)

    def _call_observer(self, impl: pluggy.HookImpl, plugin: object, name: str) -> None:
        self._call_impl(
            "receiver_plugin_registered", impl, {"plugin": plugin, "plugin_name": name, "manager": self}
        )

    def record_missing(self, name: str, state: PluginState, error: str | None = None, **fields: Any) -> None:
        self.records[name] = PluginRecord(name=name, origin=fields.pop("origin", "entry-point"), state=state,
                                          error=error, **fields)

    # ------------------------------------------------------------------------------------ loading

    def load(
        self,
        settings: PluginSettings,
        *,
        builtins: Iterable[BuiltinPlugin] = BUILTINS,
        entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
    ) -> None:
        """Block, register built-ins, load entry points, check hooks and requirements."""
        builtins = tuple(builtins)
        essential = {b.name for b in builtins if b.essential}
        for name in settings.disabled:
            if name in essential:
                raise ConfigError("plugins.disabled", f"{name!r} cannot be disabled")
            self.set_blocked(name)
            self.record_missing(name, PluginState.DISABLED, origin="config")
        for builtin in builtins:
            if self.is_blocked(builtin.name):
                self.records[builtin.name].origin = "builtin"
                continue
            module = importlib.import_module(builtin.module)
            self.register_plugin(module, builtin.name, origin="builtin", essential=builtin.essential,
                                 version=CORE_VERSION)
        eps = list(entry_points if entry_points is not None else importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
        names_seen = set()
        for ep in eps:
            names_seen.add(ep.name)
            dist = getattr(ep, "dist", None)
            dist_fields = {"distribution": dist.name if dist else None, "version": dist.version if dist else None}
            if self.is_blocked(ep.name):
                self.records[ep.name] = PluginRecord(name=ep.name, origin="entry-point", state=PluginState.DISABLED,
                                                     **dist_fields)
                continue
            if not settings.autoload and ep.name not in settings.enabled:
                self.record_missing(ep.name, PluginState.NOT_ENABLED, **dist_fields)
                continue
            if ep.name in self.records and self.records[ep.name].active:
                log.warning("plugin name %r is provided twice; keeping %s", ep.name, self.records[ep.name].origin)
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin never stops the box
                log.error("plugin %s failed to import: %s", ep.name, describe_error(exc))
                self.record_missing(ep.name, PluginState.FAILED, f"import failed: {describe_error(exc)}", **dist_fields)
                continue
            try:
                self.register_plugin(module, ep.name, origin="entry-point", **dist_fields)
            except PluginError as exc:
                log.error("plugin %s refused: %s", ep.name, exc)
                self.record_missing(ep.name, PluginState.FAILED, str(exc), **dist_fields)
        for name in settings.enabled:
            if name not in names_seen and name not in self.records:
                log.warning("plugins.enabled names %r but no such plugin is installed", name)
                self.record_missing(name, PluginState.MISSING, "not installed")
        self._check_pending()
        self._check_required(settings.required)

    def _check_pending(self) -> None:
        while True:
            try:
                self.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                name = self.get_name(exc.plugin) or "?"
                if self.records.get(name) and self.records[name].essential:
                    raise PluginError(str(exc)) from exc
                self.unregister(exc.plugin)
                self._set_failed(name, f"unknown hook: {exc}")

    def _check_required(self, required: Sequence[str]) -> None:
        for text in required:
            try:
                req = Requirement(text)
            except InvalidRequirement as exc:
                raise ConfigError("plugins.required", f"{text!r}: {exc}") from None
            wanted = _normalise(req.name)
            matches = [r for r in self.records.values()
                       if _normalise(r.name) == wanted or (r.distribution and _normalise(r.distribution) == wanted)]
            active = [r for r in matches if r.active]
            if not active:
                why = matches[0].state.value if matches else "not installed"
                raise ConfigError("plugins.required", f"{text!r} is required but {why}")
            if req.specifier and not any(r.version and req.specifier.contains(r.version, prereleases=True)
                                         for r in active):
                versions = ", ".join(sorted({r.version or "?" for r in active}))
                raise ConfigError("plugins.required", f"{text!r} is required but version {versions} is installed")

    # ------------------------------------------------------------------------------------ queries

    def active_names(self) -> list[str]:
        return [name for name, rec in self.records.items() if rec.active]

    def hooks_of(self, name: str) -> list[str]:
        plugin = self.get_plugin(name)
        if plugin is None:
            return []
        return sorted(caller.name for caller in (self.get_hookcallers(plugin) or ()))

    # ------------------------------------------------------------------------------------ failures

    def on_failure(self, listener: Callable[[str, str], None]) -> None:
        """``listener(plugin_name, error_text)`` runs once when a plugin is marked failed."""
        self._failure_listeners.append(listener)

    def mark_failed(self, name: str, error: BaseException | str, *, hook: str | None = None) -> None:
        text = describe_error(error)
        if hook:
            text = f"{hook}: {text}"
        record = self.records.get(name)
        if record is None or record.state is PluginState.FAILED:
            return
        if record.essential:
            log.error("essential plugin %s raised (%s); it stays loaded", name, text)
            record.error = text
            return
        log.error("plugin %s failed: %s", name, text, exc_info=error if isinstance(error, BaseException) else None)
        self._set_failed(name, text)
        for listener in list(self._failure_listeners):
            listener(name, text)

    def _set_failed(self, name: str, text: str) -> None:
        record = self.records.get(name)
        if record is None:
            self.record_missing(name, PluginState.FAILED, text)
        else:
            record.state = PluginState.FAILED
            record.error = text

    # ------------------------------------------------------------------------------------ calling

    def _impls(self, hook_name: str) -> list[pluggy.HookImpl]:
        """Implementations in pluggy's call order (tryfirst/trylast, LIFO), without wrappers."""
        caller = getattr(self.hook, hook_name)
        return [impl for impl in reversed(caller.get_hookimpls()) if not (impl.wrapper or impl.hookwrapper)]

    def _callable(self, impl: pluggy.HookImpl) -> bool:
        record = self.records.get(impl.plugin_name)
        return record is None or record.active

    def _call_impl(self, hook_name: str, impl: pluggy.HookImpl, kwargs: dict[str, Any]) -> tuple[bool, Any]:
        token = current_plugin.set(impl.plugin_name)
        try:
            value = impl.function(**_kwargs(impl, kwargs))
        except Exception as exc:
            self.mark_failed(impl.plugin_name, exc, hook=hook_name)
            return False, None
        finally:
            current_plugin.reset(token)
        hook_log.debug("%s <- %s: %r", hook_name, impl.plugin_name, value)
        return True, value

    def call_each(self, hook_name: str, *, running_only: bool = False, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation, isolating failures; returns ``(plugin, result)`` pairs.

        Synchronous hooks only: an awaitable result marks the plugin failed (the hook is sync).
        ``running_only`` skips plugins whose startup has not succeeded (discovery and sockets
        are for started plugins only).
        """
        results = []
        for impl in self._impls(hook_name):
            if not self._callable(impl):
                continue
            if running_only and getattr(self.records.get(impl.plugin_name), "state", None) is not PluginState.RUNNING:
                continue
            ok, value = self._call_impl(hook_name, impl, kwargs)
            if ok and inspect.isawaitable(value):
                _discard(value)
                self.mark_failed(impl.plugin_name, "returned an awaitable from a synchronous hook", hook=hook_name)
                continue
            if ok and value is not None:
                results.append((impl.plugin_name, value))
        return results

    async def acall_each(self, hook_name: str, *, only: str | None = None, **kwargs: Any) -> list[tuple[str, Any]]:
        """Like ``call_each`` for "may await" hooks: awaitable results are awaited in the plugin's context."""
        results = []
        for impl in self._impls(hook_name):
            if only is not None and impl.plugin_name != only:
                continue
            if only is None and not self._callable(impl):
                continue
            token = current_plugin.set(impl.plugin_name)
            try:
                value = await await_me_maybe(impl.function(**_kwargs(impl, kwargs)))
            except Exception as exc:
                if only is None:
                    self.mark_failed(impl.plugin_name, exc, hook=hook_name)
                else:
                    raise
                continue
            finally:
                current_plugin.reset(token)
            if value is not None:
                results.append((impl.plugin_name, value))
        return results

    def call_first(self, hook_name: str, **kwargs: Any) -> tuple[str, Any] | None:
        """firstresult call with attribution: ``(plugin, result)`` or ``None`` when nobody answered.

        Raises ``HookFailed`` naming the plugin if an implementation raised or answered with an
        awaitable; the caller applies the hook's fallback (deny, built-in policy, ...). The raising
        plugin is also marked failed.
        """
        for impl in self._impls(hook_name):
            if not self._callable(impl):
                continue
            token = current_plugin.set(impl.plugin_name)
            try:
                value = impl.function(**_kwargs(impl, kwargs))
            except Exception as exc:
                self.mark_failed(impl.plugin_name, exc, hook=hook_name)
                raise HookFailed(hook_name, impl.plugin_name, exc) from exc
            finally:
                current_plugin.reset(token)
            if inspect.isawaitable(value):
                _discard(value)
                error = "answered a firstresult hook with an awaitable (async def)"
                self.mark_failed(impl.plugin_name, error, hook=hook_name)
                raise HookFailed(hook_name, impl.plugin_name, error)
            if value is not None:
                hook_log.debug("%s <- %s: %r", hook_name, impl.plugin_name, value)
                return impl.plugin_name, value
        return None

    def call_plugin(self, hook_name: str, name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call one plugin's implementation of a sync hook (used to replay historic hooks)."""
        results = []
        for impl in self._impls(hook_name):
            if impl.plugin_name == name and self._callable(impl):
                ok, value = self._call_impl(hook_name, impl, kwargs)
                if ok and value is not None:
                    results.append((name, value))
        return results


def validate_manifest(manifest: object, name: str) -> None:
    if not isinstance(manifest, PluginManifest):
        raise PluginError(f"plugin {name!r}: 'manifest' must be a receiver_core.PluginManifest")
    if manifest.name != name:
        raise PluginError(f"plugin {name!r}: manifest name {manifest.name!r} does not match the entry-point name")
    try:
        spec = SpecifierSet(manifest.requires_core)
    except InvalidSpecifier:
        raise PluginError(f"plugin {name!r}: requires_core {manifest.requires_core!r} is not a version specifier") from None
    if not spec.contains(CORE_VERSION, prereleases=True):
        raise PluginError(f"plugin {name!r} requires core {manifest.requires_core} but this is {CORE_VERSION}")


def _kwargs(impl: pluggy.HookImpl, available: dict[str, Any]) -> dict[str, Any]:
    return {name: available[name] for name in impl.argnames}


def _discard(awaitable: Awaitable[Any]) -> None:
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
