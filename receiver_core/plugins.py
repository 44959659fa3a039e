"""The plugin host: block-before-import, built-ins, entry points, manifests, isolated hook calls.

Loading order (``ReceiverPluginManager.load``): block every name in ``plugins.disabled`` (refusing
essential ones) → register the core built-ins → load ``receiver_core.plugins`` entry points (all of
them with ``autoload``, else only ``plugins.enabled``) → ``check_pending`` → ``plugins.required``.

A plugin that fails to import, carries a bad manifest or implements an unknown hook is recorded as
*failed* with its error; the box keeps running without it.
"""

from __future__ import annotations

import difflib
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
from .attribution import acting_as
from .config.schema import PluginsSection
from .context import ContextHost, CoreContext, PluginContext
from .errors import ConfigError, HookFailed, PluginError, describe_error
from .model import PluginManifest

log = logging.getLogger(__name__)
hook_log = logging.getLogger("receiver_core.hooks")

ENTRY_POINT_GROUP = "receiver_core.plugins"


@attrs.frozen
class BuiltinPlugin:
    """A core behaviour written as a plugin: ``target`` is ``module:Class`` (built with a ``CoreContext``)."""

    name: str
    target: str
    essential: bool = False


#: Core behaviour written as plugins, replaceable like any other (unless essential).
BUILTINS: tuple[BuiltinPlugin, ...] = (
    BuiltinPlugin("core_admin", "receiver_core.builtin.core_admin:CoreAdmin", essential=True),
    BuiltinPlugin("pin_auth", "receiver_core.builtin.pin_auth:PinAuth", essential=True),
    BuiltinPlugin("layouts", "receiver_core.builtin.layouts:Layouts"),
    BuiltinPlugin("pyav_decoders", "receiver_core.builtin.pyav_decoders:PyAVDecoders"),
    BuiltinPlugin("display_backends", "receiver_core.builtin.display_backends:OutputBackends"),
    BuiltinPlugin("idle_screen", "receiver_core.builtin.idle_screen:IdleScreen"),
)


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
    manifest: PluginManifest | None = None
    distribution: str | None = None
    version: str | None = None
    essential: bool = False
    error: str | None = None

    @property
    def active(self) -> bool:
        return self.state in (PluginState.LOADED, PluginState.RUNNING)


class ReceiverPluginManager(pluggy.PluginManager):
    """pluggy's registry plus the receiver's policy: contexts, records, one checked call path."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self.contexts: dict[str, PluginContext] = {}
        self._host: ContextHost | None = None
        self._failure_listeners: list[Callable[[str, str], None]] = []
        #: ``RECEIVER_TRACE_HOOKS=1``: log every hook answer (type and size only, never contents)
        self.trace_hooks = os.environ.get("RECEIVER_TRACE_HOOKS") == "1"

    # ------------------------------------------------------------------------------- registration

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None:
            return None
        if not name.startswith(hookspecs.PROJECT + "_"):
            raise PluginError(f"{name!r} is marked as a hook implementation but does not start with 'receiver_'")
        if opts.get("wrapper") or opts.get("hookwrapper"):
            raise PluginError(f"{name!r}: wrapper implementations are not supported (the host calls each "
                              "implementation itself, so a wrapper would never run); use tryfirst/trylast")
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
        """Build (a class or factory is called with the plugin's context), validate, register.

        ``plugin`` is a class or factory taking a ``PluginContext`` (the usual case), a module of
        hook functions, or an object that is already built. Raises ``PluginError`` when refused."""
        if name in self.records and self.records[name].active:
            raise PluginError(f"plugin {name!r} is already registered")
        ctx = (CoreContext if origin == "builtin" else PluginContext)(name)
        manifest = getattr(plugin, "manifest", None)
        if manifest is None and origin != "runtime":
            raise PluginError(f"plugin {name!r} has no 'manifest' (a receiver_core.PluginManifest)")
        if manifest is not None:
            validate_manifest(manifest, name)
        obj = _build(plugin, ctx, name)
        try:
            self.register(obj, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise PluginError(f"plugin {name!r}: {exc}") from exc
        self.contexts[name] = ctx
        if self._host is not None:
            ctx.bind(self._host)
        record = PluginRecord(
            name=name,
            origin=origin,
            state=PluginState.LOADED,
            manifest=manifest,
            distribution=distribution,
            version=version or (manifest.version if manifest else None),
            essential=essential,
        )
        self.records[name] = record
        self._after_register(obj, name)
        return record

    def _after_register(self, plugin: object, name: str) -> None:
        try:
            self.call_each("receiver_addhooks", only=name, raise_errors=True,
                           pluginmanager=hookspecs.HookDeclarer(self))
        except HookFailed as exc:  # a plugin that cannot declare its contract cannot run
            self.unregister(name=name)
            self.records.pop(name, None)
            self.contexts.pop(name, None)
            raise PluginError(f"plugin {name!r}: receiver_addhooks: {describe_error(exc.error)}") from exc
        if name in self._names_of("receiver_plugin_registered"):
            # a new observer sees everyone registered before it (historic replay)
            for other, other_plugin in self.list_name_plugin():
                if other != name and other_plugin is not None:
                    self.call_each("receiver_plugin_registered", only=name, plugin=other_plugin, plugin_name=other)
        self.call_each("receiver_plugin_registered", plugin=plugin, plugin_name=name)

    def record_missing(self, name: str, state: PluginState, error: str | None = None, **fields: Any) -> None:
        self.records[name] = PluginRecord(name=name, origin=fields.pop("origin", "entry-point"), state=state,
                                          error=error, **fields)

    def bind_host(self, host: ContextHost) -> None:
        """Give every plugin context the running box (called once by the ``Receiver``)."""
        self._host = host
        for ctx in self.contexts.values():
            ctx.bind(host)

    # ------------------------------------------------------------------------------------ loading

    def load(
        self,
        settings: PluginsSection,
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
            module_name, _, attr = builtin.target.partition(":")
            target = getattr(importlib.import_module(module_name), attr) if attr else importlib.import_module(module_name)
            self.register_plugin(target, builtin.name, origin="builtin", essential=builtin.essential,
                                 version=CORE_VERSION)
        eps = list(entry_points if entry_points is not None else importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
        names_seen = set()
        for ep in eps:
            names_seen.add(ep.name)
            dist = getattr(ep, "dist", None)
            dist_fields: dict[str, Any] = {"distribution": dist.name if dist else None,
                                           "version": dist.version if dist else None}
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
                target = ep.load()
            except Exception as exc:  # a broken plugin never stops the box
                log.error("plugin %s failed to import: %s", ep.name, describe_error(exc))
                self.record_missing(ep.name, PluginState.FAILED, f"import failed: {describe_error(exc)}", **dist_fields)
                continue
            try:
                self.register_plugin(target, ep.name, origin="entry-point", **dist_fields)
            except PluginError as exc:
                log.error("plugin %s refused: %s", ep.name, exc)
                self.record_missing(ep.name, PluginState.FAILED, str(exc), **dist_fields)
        for name in settings.enabled:
            if name not in names_seen and name not in self.records:
                log.warning("plugins.enabled names %r but no such plugin is installed", name)
                self.record_missing(name, PluginState.MISSING, "not installed")
        self.check_hooks()
        self._check_required(settings.required)

    def check_hooks(self) -> None:
        """Refuse plugins implementing hooks nobody declared, suggesting the closest valid name."""
        while True:
            try:
                self.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                name = self.get_name(exc.plugin) or "?"
                unknown = [c.name for c in (self.get_hookcallers(exc.plugin) or ()) if c.spec is None]
                known = [n for n in dir(self.hook) if n.startswith(hookspecs.PROJECT + "_")
                         and getattr(self.hook, n).spec is not None]
                hints = []
                for hook in unknown:
                    close = difflib.get_close_matches(hook, known, n=1)
                    hints.append(f"{hook!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
                text = "unknown hook " + ", ".join(hints) if hints else str(exc)
                if self.records.get(name) and self.records[name].essential:
                    raise PluginError(f"plugin {name!r}: {text}") from exc
                self.unregister(exc.plugin)
                log.error("plugin %s refused: %s", name, text)
                self._set_failed(name, text)

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

    def display_name(self, name: str) -> str:
        """The manifest's display name of plugin ``name`` (its name when it has none)."""
        record = self.records.get(name)
        return record.manifest.display_name if record and record.manifest else name

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

    def _impls(self, hook_name: str, *, only: str | None = None, running_only: bool = False) -> list[pluggy.HookImpl]:
        """Implementations to call, in pluggy's order (tryfirst/trylast, LIFO), active plugins only."""
        caller = getattr(self.hook, hook_name, None)
        if caller is None:
            raise PluginError(f"no hook named {hook_name!r}")
        impls = []
        for impl in reversed(caller.get_hookimpls()):
            record = self.records.get(impl.plugin_name)
            if only is not None and impl.plugin_name != only:
                continue
            if record is not None and not record.active:
                continue
            if running_only and (record is None or record.state is not PluginState.RUNNING):
                continue
            impls.append(impl)
        return impls

    def _names_of(self, hook_name: str) -> set[str]:
        return {impl.plugin_name for impl in self._impls(hook_name)}

    def _call(self, hook_name: str, impl: pluggy.HookImpl, kwargs: dict[str, Any], *,
              may_await: bool, raise_errors: bool) -> tuple[bool, Any]:
        """The one place a hook implementation runs: attribution, the call, the answer's check, failures.

        Returns ``(ok, value)``; ``value`` may be an awaitable only when ``may_await``. On failure the
        plugin is marked failed, or ``HookFailed`` is raised when ``raise_errors`` (the caller decides)."""
        name = impl.plugin_name
        arguments = {arg: (self.contexts.get(name) if arg == "ctx" else kwargs[arg]) for arg in impl.argnames}
        with acting_as(name):
            try:
                value = impl.function(**arguments)
            except Exception as exc:
                return self._failed(hook_name, name, exc, raise_errors)
        if inspect.isawaitable(value):
            if may_await and _returns(hook_name).may_await:
                return True, value
            _discard(value)
            return self._failed(hook_name, name, "answered a synchronous hook with an awaitable (async def)",
                                raise_errors)
        return self._checked(hook_name, name, value, raise_errors)

    def _checked(self, hook_name: str, name: str, value: Any, raise_errors: bool) -> tuple[bool, Any]:
        problem = _returns(hook_name).problem(value)
        if problem is not None:
            return self._failed(hook_name, name, problem, raise_errors)
        if self.trace_hooks:
            hook_log.debug("%s <- %s: %s", hook_name, name, _summary(value))
        return True, value

    def _failed(self, hook_name: str, name: str, error: BaseException | str, raise_errors: bool) -> tuple[bool, Any]:
        if raise_errors:
            if isinstance(error, BaseException):
                raise HookFailed(hook_name, name, error) from error
            raise HookFailed(hook_name, name, error)
        self.mark_failed(name, error, hook=hook_name)
        return False, None

    def call_each(self, hook_name: str, *, only: str | None = None, running_only: bool = False,
                  raise_errors: bool = False, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation of a synchronous hook; ``(plugin, answer)`` pairs, ``None`` left out.

        A plugin that raises or answers wrongly is marked failed and the others still run (with
        ``raise_errors`` a ``HookFailed`` is raised instead). ``only`` calls one plugin;
        ``running_only`` skips plugins whose startup has not succeeded (discovery and sockets are
        for started plugins only)."""
        results = []
        for impl in self._impls(hook_name, only=only, running_only=running_only):
            ok, value = self._call(hook_name, impl, kwargs, may_await=False, raise_errors=raise_errors)
            if ok and value is not None:
                results.append((impl.plugin_name, value))
        return results

    async def acall_each(self, hook_name: str, *, only: str | None = None, raise_errors: bool = False,
                         **kwargs: Any) -> list[tuple[str, Any]]:
        """Like ``call_each`` for "may await" hooks: awaitable answers are awaited as the plugin."""
        results = []
        for impl in self._impls(hook_name, only=only):
            ok, value = self._call(hook_name, impl, kwargs, may_await=True, raise_errors=raise_errors)
            if ok and inspect.isawaitable(value):
                with acting_as(impl.plugin_name):
                    try:
                        value = await value
                    except Exception as exc:
                        ok, value = self._failed(hook_name, impl.plugin_name, exc, raise_errors)
                if ok:
                    ok, value = self._checked(hook_name, impl.plugin_name, value, raise_errors)
            if ok and value is not None:
                results.append((impl.plugin_name, value))
        return results

    def call_first(self, hook_name: str, **kwargs: Any) -> tuple[str, Any] | None:
        """firstresult call with attribution: ``(plugin, answer)`` or ``None`` when nobody answered.

        Raises ``HookFailed`` naming the plugin if an implementation raised or answered wrongly
        (the plugin is also marked failed); the caller applies the hook's fallback (deny, built-in
        policy, ...)."""
        for impl in self._impls(hook_name):
            try:
                _ok, value = self._call(hook_name, impl, kwargs, may_await=False, raise_errors=True)
            except HookFailed as exc:
                self.mark_failed(exc.plugin, exc.error, hook=hook_name)
                raise
            if value is not None:
                return impl.plugin_name, value
        return None


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


def _discard(awaitable: Awaitable[Any]) -> None:
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _build(plugin: object, ctx: PluginContext, name: str) -> object:
    """A class or factory is called with the context; a module or a built object is used as it is."""
    if not (inspect.isclass(plugin) or inspect.isfunction(plugin)):
        return plugin
    factory: Callable[[PluginContext], object] = plugin
    try:
        return factory(ctx)
    except Exception as exc:
        raise PluginError(f"plugin {name!r} could not be built: {describe_error(exc)}") from exc


def _returns(hook_name: str) -> hookspecs.Returns:
    return hookspecs.RESULTS.get(hook_name, hookspecs.ANY_RESULT)


def _summary(value: Any) -> str:
    """What tracing shows of an answer: its type and size, never its contents (PINs, keys)."""
    if isinstance(value, (list, tuple)):
        kinds = sorted({type(v).__name__ for v in value})
        return f"{len(value)} x {'/'.join(kinds) or '-'}"
    return type(value).__name__
