"""Every hook of the receiver, grouped by phase.

Conventions (enforced by meta-tests in ``tests/core/test_hookspecs.py``):

* Every hook is named ``receiver_*`` and is called with keyword arguments only. An implementation
  may accept fewer arguments than the spec lists. Every hook offers ``ctx``, the calling plugin's
  own ``PluginContext``; a class-based plugin usually keeps the one it was built with
  (``self.ctx``) and names no argument at all.
* Every hook declares what it returns (``RESULTS`` below); the plugin host checks each answer and
  marks a plugin that answers with something else **failed**, naming the hook and the type.
* **firstresult** hooks stop at the first non-``None`` result and must be answered synchronously:
  an ``async def`` implementation returns a coroutine, which would count as an answer without ever
  being awaited. The core refuses such an answer (and, for authorization, denies).
* Hooks marked *each* are called one implementation at a time: results are attributed to plugin
  names and one plugin raising never stops the others. The plugin that raised is marked
  **failed** (shown in ``plugins list`` and ``/api/status``) and retired: its shutdown hook and
  unload callbacks run, its tasks are cancelled and it is not called again.
* "May await" hooks may return an awaitable; the core awaits it in the plugin's context.
* ``wrapper``/``hookwrapper`` implementations are refused at registration: the host calls each
  implementation itself, so a wrapper would never run.
* Plugins registered later are called first (pluggy's LIFO). Never rely on order; use
  ``tryfirst``/``trylast``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from .model import (
    Admission,
    AuthDecision,
    CliCommand,
    Layout,
    ListenerSpec,
    Overlay,
    P2PDeviceConfig,
    Route,
    ServiceAdvertisement,
    WfdSubelement,
)

if TYPE_CHECKING:
    from .config.schema import SectionRegistry
    from .context import PluginContext
    from .display.registry import AudioBackendRegistry, DisplayBackendRegistry
    from .media.caps import MediaCaps
    from .media.decoders import DecoderRegistry, DecoderSpec
    from .model import IdleState, NetChange, NetInterface, Screen, SessionRequest
    from .session.manager import Session

PROJECT = "receiver"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@attrs.frozen
class Returns:
    """What a hook's implementations may answer besides ``None``."""

    kind: type | None = None      # None: nothing (an awaitable where the hook may await)
    many: bool = False            # a list or tuple of ``kind``
    may_await: bool = False

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not an acceptable answer, or ``None`` when it is."""
        if value is None:
            return None
        if self.kind is None:
            return f"must return nothing, not {type(value).__name__}"
        if self.many:
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, self.kind) for v in value):
                return f"must return a list of {self.kind.__name__}"
            return None
        if not isinstance(value, self.kind):
            return f"must return a {self.kind.__name__}, not {type(value).__name__}"
        return None


class HookDeclarer:
    """What ``receiver_addhooks`` gets: a way to declare hookspecs, nothing else of the host."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm

    def add_hookspecs(self, module_or_class: ModuleType | type) -> None:
        """Declare the ``receiver_*`` hookspecs found on ``module_or_class``."""
        self._pm.add_hookspecs(module_or_class)


# ======================================================================================== setup phase


@hookspec(historic=True)
def receiver_addhooks(pluginmanager: HookDeclarer, ctx: PluginContext) -> None:
    """Add a plugin's own hookspecs (e.g. an optional provider hook other plugins implement).

    :param pluginmanager: call ``pluginmanager.add_hookspecs(module_or_class)``; nothing else of
        the host is reachable through it.
    :param ctx: the calling plugin's context.
    :return: nothing.

    Called once per plugin as it registers. New hook names must start with ``receiver_``. If it
    raises, startup fails: a plugin that cannot declare its own contract cannot be trusted to run.
    Call the hooks you declared with ``ctx.call_hook(name, **kwargs)``.
    """


@hookspec(historic=True)
def receiver_plugin_registered(plugin: object, plugin_name: str, ctx: PluginContext) -> None:
    """Observe every plugin registration (for audit logs or admin pages).

    :param plugin: the registered module or plugin object.
    :param plugin_name: its name (the entry-point name for protocol plugins).
    :param ctx: the observing plugin's context.
    :return: nothing.

    Called *each*: an observer also sees every plugin registered before it (replayed). If it raises,
    the observing plugin is marked failed; the registration itself stands.
    """


@hookspec
def receiver_config_sections(registry: SectionRegistry, ctx: PluginContext) -> None:
    """Declare the plugin's typed config section.

    :param registry: call ``registry.add(name, AttrsClass, description=...)``; the plugin's own
        section is ``[plugin.<name>]``. Declare each key with ``receiver_core.setting(default,
        description, ...)``: it gives the type check, the default and the description that
        ``config show --describe`` prints. A field type the config loader cannot read fails here,
        naming the field.
    :param ctx: the calling plugin's context.
    :return: nothing.

    Called once before the configuration is validated. If it raises, or two plugins register the
    same name, startup fails with a ``ConfigError``.
    """


@hookspec
def receiver_configure(ctx: PluginContext) -> None:
    """The configuration is validated and frozen; read your section with ``ctx.config(YourSection)``.

    :param ctx: the calling plugin's context (the box is built, not started yet).
    :return: nothing.

    Called *each* once, before startup. If it raises, that plugin is marked failed and is not started.
    """


@hookspec
def receiver_startup(ctx: PluginContext) -> Awaitable[None] | None:
    """Start background work. May await.

    :param ctx: the calling plugin's context. Use ``ctx.spawn(coro)`` for tasks and
        ``ctx.start_thread(fn)`` for threads (a crash retires the plugin, nothing else stops) and
        ``ctx.on_unload(callback)`` for cleanup.
    :return: nothing, or an awaitable the core awaits.

    Called *each* after configure, before listeners are bound and services advertised. Raising
    ``NotReady`` retries this plugin's startup with backoff (1, 2, 4 … 30 s); any other exception
    marks the plugin failed.
    """


@hookspec
def receiver_shutdown(ctx: PluginContext) -> Awaitable[None] | None:
    """Symmetric teardown; the plugin's ``on_unload`` callbacks run right after. May await.

    :param ctx: the calling plugin's context.
    :return: nothing, or an awaitable.

    Called *each*, also for a plugin retired after a failure. Exceptions are logged; teardown of
    the others continues.
    """


# ========================================================================================= discovery


@hookspec
def receiver_mdns_services(ctx: PluginContext, interface: NetInterface) -> Sequence[ServiceAdvertisement] | None:
    """DNS-SD services to publish on one interface. Return data: the core owns the mDNS socket.

    :param ctx: the calling plugin's context (a class-based plugin may use ``self.ctx`` instead).
    :param interface: an interface that is up, has an address and a role the admin advertises on.
    :return: a list of ``ServiceAdvertisement`` (or ``None`` for none). The core registers them
        with the interface addresses, renames on conflict, updates them when the box name, the
        configuration or the network changes, and sends goodbyes when they disappear.

    Called *each*, again after every network or name change. If it raises, that plugin is marked
    failed and its advertisements are withdrawn.
    """


@hookspec
def receiver_wfd_subelements(ctx: PluginContext) -> Sequence[WfdSubelement] | None:
    """Wi-Fi Display subelements to put in the global ``WFDIEs`` of wpa_supplicant.

    :param ctx: the calling plugin's context (a class-based plugin may use ``self.ctx`` instead).
    :return: a list of ``WfdSubelement``; the core merges all plugins' lists. Two plugins giving the
        same subelement id is refused naming both (the later contribution is dropped).

    Called *each* at startup and after network changes. If it raises, that plugin is marked failed.
    """


@hookspec(firstresult=True)
def receiver_p2p_device_config(ctx: PluginContext) -> P2PDeviceConfig | None:
    """Wi-Fi Direct device settings (device name, GO intent, listen channel).

    :param ctx: the calling plugin's context (a class-based plugin may use ``self.ctx`` instead).
    :return: a ``P2PDeviceConfig``, or ``None`` for no opinion. Stops at first non-None result.

    Must answer synchronously. If it raises, the core uses defaults (box name, GO intent 15).
    """


@hookspec
def receiver_listeners(ctx: PluginContext) -> Sequence[ListenerSpec] | None:
    """Sockets the plugin needs. The core binds them and closes them when the plugin unloads.

    :param ctx: the calling plugin's context (a class-based plugin may use ``self.ctx`` instead).
    :return: a list of ``ListenerSpec``. Two plugins asking for the same transport and port is a
        clash: the later plugin is marked failed naming both. A port the OS refuses (in use) marks
        the plugin failed with the OS error.

    Called *each* at startup, after ``receiver_startup``.
    """


# ========================================================================================== sessions


@hookspec(firstresult=True)
def receiver_session_authorize(ctx: PluginContext, request: SessionRequest) -> AuthDecision | None:
    """May this sender present? Tri-state: allow, deny, or challenge (PIN and/or approval).

    :param ctx: the calling plugin's context (a class-based plugin may use ``self.ctx`` instead).
    :param request: who asks (protocol, address, stable id, name, PIN typed if any).
    :return: an ``AuthDecision``, or ``None`` for no opinion. Stops at first non-None result.
        When every plugin answers ``None`` the core denies.

    Must answer synchronously and must not block: an authorization needing I/O returns
    ``challenge(approval=True)`` and lets moderation wait; network-consulting impls use
    ``trylast=True``. **Fails closed:** if any impl raises or returns an awaitable, the request is
    denied and the plugin named in the log.
    """


@hookspec(firstresult=True)
def receiver_session_admit(ctx: PluginContext, session: Session, active: Sequence[Session]) -> Admission | None:
    """Authorized: on screen now, queued, preempting someone, or rejected?

    :param ctx: the calling plugin's context (a class-based plugin may use ``self.ctx`` instead).
    :param session: the newcomer.
    :param active: sessions on screen now (active or paused), oldest first.
    :return: an ``Admission``, or ``None`` for no opinion. Stops at first non-None result.

    Must answer synchronously. If it raises or nobody answers, the built-in policy from
    ``[session] max_presenters`` / ``admission`` decides.
    """


@hookspec
def receiver_session_started(ctx: PluginContext, session: Session) -> Awaitable[None] | None:
    """Observe a session going on screen (stats, UI, logs). May await.

    :param ctx: the calling plugin's context (a class-based plugin may use ``self.ctx`` instead).
    :param session: the session, now active.
    :return: nothing, or an awaitable.

    Called *each*; a raising observer is marked failed, the session is unaffected.
    """


@hookspec
def receiver_session_ended(ctx: PluginContext, session: Session, reason: str) -> Awaitable[None] | None:
    """Observe a session ending. May await.

    :param ctx: the calling plugin's context (a class-based plugin may use ``self.ctx`` instead).
    :param session: the session, now ended.
    :param reason: ``normal``, ``preempted``, ``kicked``, ``blocked``, ``denied``, ``error: …``,
        ``shutdown`` or a protocol-specific text.
    :return: nothing, or an awaitable.

    Called *each*; a raising observer is marked failed.
    """


@hookspec
def receiver_moderation_action(ctx: PluginContext, session: Session, action: str, actor: str) -> None:
    """Observe a moderation action: ``approve``, ``deny``, ``kick``, ``block``, ``pause``, ``resume``.

    :param ctx: the calling plugin's context (a class-based plugin may use ``self.ctx`` instead).
    :param session: the session acted on.
    :param action: what was done.
    :param actor: who did it (``api:<address>``, ``policy``, ``cli``).
    :return: nothing.

    Called *each*; a raising observer is marked failed.
    """


@hookspec(firstresult=True)
def receiver_meeting_id(ctx: PluginContext, previous: str | None) -> str | None:
    """Issue the next meeting ID (e.g. from a cloud service that already holds one).

    :param ctx: the calling plugin's context (a class-based plugin may use ``self.ctx`` instead).
    :param previous: the ID being replaced, or ``None`` at startup.
    :return: the new ID (digits, 4..12 characters), or ``None`` to let the core draw a random
        6-digit ID different from ``previous``.
        Stops at first non-None result.

    Called at startup and whenever the room goes idle. Must answer synchronously. If it raises or
    returns something invalid, the core draws a random ID.
    """


# ====================================================================================== media/display


@hookspec
def receiver_register_decoders(registry: DecoderRegistry, ctx: PluginContext) -> None:
    """Register decoders: ``registry.add(DecoderSpec(name, kind, codecs, rank, factory, accepts_caps, description))``.

    :param registry: the decoder registry; the highest-ranked decoder accepting the caps wins,
        ``[decoders.rank]`` in config overrides ranks (0 = never auto-pick).
    :param ctx: the calling plugin's context.
    :return: nothing.

    Called once at startup. A duplicate decoder name fails startup naming both plugins.
    """


@hookspec(firstresult=True)
def receiver_select_decoder(caps: MediaCaps, candidates: Sequence[DecoderSpec], ctx: PluginContext) -> DecoderSpec | None:
    """Rarely needed override of the ranked decoder choice.

    :param caps: what the source carries.
    :param candidates: decoders that accept the caps, best rank first (rank 0 excluded).
    :param ctx: the calling plugin's context.
    :return: one of ``candidates``, or ``None`` to keep the ranked choice.
        Stops at first non-None result.

    Must answer synchronously. If it raises or returns something not in ``candidates``, the ranked
    choice is used.
    """


@hookspec
def receiver_register_display_backends(registry: DisplayBackendRegistry, ctx: PluginContext) -> None:
    """Register display backends by name: ``registry.add(name, factory, available=callable)``.

    :param registry: the display backend registry; ``[display] backend`` picks one by name, ``auto``
        takes ``window`` when a display is available, else ``headless``.
    :param ctx: the calling plugin's context.
    :return: nothing.

    Called once at startup. A duplicate name fails startup naming both plugins.
    """


@hookspec
def receiver_register_audio_backends(registry: AudioBackendRegistry, ctx: PluginContext) -> None:
    """Register audio output backends by name (``sdl``, ``wav``, ``null`` are built in).

    :param registry: the audio backend registry; ``[audio] backend`` picks one.
    :param ctx: the calling plugin's context.
    :return: nothing.

    Called once at startup. A duplicate name fails startup naming both plugins.
    """


@hookspec(firstresult=True)
def receiver_layout(ctx: PluginContext, screen: Screen, sessions: Sequence[Session]) -> Layout | None:
    """Where each on-screen session goes and which one is heard.

    :param ctx: the calling plugin's context (a class-based plugin may use ``self.ctx`` instead).
    :param screen: output size.
    :param sessions: sessions on screen (active, not paused), oldest first. ``session.video_streams``
        names the video streams each one has (``StreamRole.MAIN``, ``StreamRole.CAMERA``).
    :return: a ``Layout`` (tiles and audio focus), or ``None`` for no opinion.
        Stops at first non-None result. A ``Tile`` shows one stream (``Tile.stream``, main by
        default): a camera is a ``CAMERA`` tile, an inset inside its session's tile with a higher
        ``z`` or a tile of its own (the built-in policy follows ``[display] camera``). A stream
        without a tile is not drawn.

    Must answer synchronously. If it raises, every session is drawn full screen in turn (the
    newest on top) with the newest heard.
    """


@hookspec
def receiver_overlays(ctx: PluginContext, screen: Screen, state: IdleState) -> Sequence[Overlay] | None:
    """Items for the idle screen and banners: box name, how to connect, PIN, meeting ID, QR code.

    :param ctx: the calling plugin's context (a class-based plugin may use ``self.ctx`` instead).
    :param screen: output size.
    :param state: name, PIN, meeting ID, idle or not, addresses.
    :return: a list of ``Overlay``. Call ``ctx.display.invalidate()`` when your items change.

    Called *each* whenever the idle screen is redrawn (PIN rotation, meeting ID change, network or
    plugin change). A raising plugin is marked failed and its items dropped.
    """


# =========================================================================================== network


@hookspec
def receiver_network_changed(ctx: PluginContext, change: NetChange) -> Awaitable[None] | None:
    """Interfaces or addresses changed; the core already re-ran discovery and listeners. May await.

    :param ctx: the calling plugin's context (a class-based plugin may use ``self.ctx`` instead).
    :param change: names added, removed and changed, plus the new snapshot.
    :return: nothing, or an awaitable.

    Called *each* after the debounced netlink events; a raising plugin is marked failed.
    """


# ============================================================================================= admin


@hookspec
def receiver_admin_routes(ctx: PluginContext) -> Sequence[Route] | None:
    """HTTP routes mounted under ``/plugins/<name>/`` on the status/admin server.

    :param ctx: the calling plugin's context (a class-based plugin may use ``self.ctx`` instead).
    :return: a list of ``Route``. Non-public routes require the admin password like every
        moderation endpoint.

    Called *each* once when the server starts; a raising plugin is marked failed and its routes
    skipped.
    """


@hookspec
def receiver_status(ctx: PluginContext) -> dict[str, Any] | None:
    """A small JSON-able dict shown under the plugin's entry in ``GET /api/status``.

    :param ctx: the calling plugin's context (a class-based plugin may use ``self.ctx`` instead).
    :return: a dict (no secrets: PINs, keys and passwords never go here), or ``None``.

    Called *each* per status request; must be cheap and synchronous. A raising plugin is marked
    failed.
    """


@hookspec
def receiver_cli_commands(ctx: PluginContext) -> Sequence[CliCommand] | None:
    """Subcommands of ``montage-receiver`` that belong to this plugin: ``montage-receiver <plugin> <name>``.

    :param ctx: the calling plugin's context. The CLI process loads the plugins and the
        configuration (``ctx.config(...)`` works) but runs no box: nothing is started, bound or
        advertised, and the box facades (sessions, media, display) are not there.
    :return: a list of ``CliCommand``. Each command's ``run(args, client)`` runs in the CLI process
        and talks to the running box through ``client`` (a ``BoxClient``), usually to one of the
        plugin's own ``receiver_admin_routes``.

    Called *each* by the CLI only, and only when the command line names a command that is not the
    core's (``run``, ``status``, ``config`` ...). A plugin whose name is a core command, or that
    gives two commands the same name, has those commands refused with a line on stderr. If it
    raises, that plugin is marked failed and offers no commands; the others still do.
    """


# ============================================================================================ results

_NOTHING = Returns()
_MAY_AWAIT = Returns(may_await=True)

#: What each hook may answer. The plugin host checks every answer against this table.
RESULTS: Mapping[str, Returns] = {
    "receiver_addhooks": _NOTHING,
    "receiver_plugin_registered": _NOTHING,
    "receiver_config_sections": _NOTHING,
    "receiver_configure": _NOTHING,
    "receiver_startup": _MAY_AWAIT,
    "receiver_shutdown": _MAY_AWAIT,
    "receiver_mdns_services": Returns(ServiceAdvertisement, many=True),
    "receiver_wfd_subelements": Returns(WfdSubelement, many=True),
    "receiver_p2p_device_config": Returns(P2PDeviceConfig),
    "receiver_listeners": Returns(ListenerSpec, many=True),
    "receiver_session_authorize": Returns(AuthDecision),
    "receiver_session_admit": Returns(Admission),
    "receiver_session_started": _MAY_AWAIT,
    "receiver_session_ended": _MAY_AWAIT,
    "receiver_moderation_action": _NOTHING,
    "receiver_meeting_id": Returns(str),
    "receiver_register_decoders": _NOTHING,
    "receiver_select_decoder": Returns(object),  # checked against the candidates by the media engine
    "receiver_register_display_backends": _NOTHING,
    "receiver_register_audio_backends": _NOTHING,
    "receiver_layout": Returns(Layout),
    "receiver_overlays": Returns(Overlay, many=True),
    "receiver_network_changed": _MAY_AWAIT,
    "receiver_admin_routes": Returns(Route, many=True),
    "receiver_status": Returns(dict),
    "receiver_cli_commands": Returns(CliCommand, many=True),
}

#: Hooks plugins declare through ``receiver_addhooks`` answer anything (their declarer documents it).
ANY_RESULT = Returns(object, may_await=True)
