"""Every hook of the receiver, grouped by phase.

Conventions (enforced by meta-tests in ``tests/core/test_hookspecs.py``):

* Every hook is named ``receiver_*`` and is called with keyword arguments only. An implementation
  may accept fewer arguments than the spec lists.
* **firstresult** hooks stop at the first non-``None`` result and must be answered synchronously:
  an ``async def`` implementation returns a coroutine, which would count as an answer without ever
  being awaited. The core refuses such an answer (and, for authorization, denies).
* Hooks marked *each* are called one implementation at a time by ``call_each``: results are
  attributed to plugin names and one plugin raising never stops the others. The plugin that raised
  is marked **failed** (shown in ``plugins list`` and ``/api/status``) and retired: its shutdown
  hook and unload callbacks run, its tasks are cancelled and it is not called again.
* "May await" hooks may return an awaitable; the core awaits it. Wrapper implementations are
  skipped by ``call_each``.
* Plugins registered later are called first (pluggy's LIFO). Never rely on order; use
  ``tryfirst``/``trylast``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .app import Receiver
    from .config.schema import SectionRegistry
    from .display.backend import AudioBackendRegistry, DisplayBackendRegistry
    from .media.caps import MediaCaps
    from .media.decoders import DecoderRegistry, DecoderSpec
    from .model import (
        Admission,
        AuthDecision,
        IdleState,
        Layout,
        ListenerSpec,
        NetChange,
        NetInterface,
        Overlay,
        P2PDeviceConfig,
        Route,
        Screen,
        ServiceAdvertisement,
        SessionRequest,
        WfdSubelement,
    )
    from .plugins import ReceiverPluginManager
    from .session.manager import Session

PROJECT = "receiver"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# ======================================================================================== setup phase


@hookspec(historic=True)
def receiver_addhooks(pluginmanager: ReceiverPluginManager) -> None:
    """Add a plugin's own hookspecs (e.g. an optional provider hook other plugins implement).

    :param pluginmanager: the receiver's plugin manager; call ``pluginmanager.add_hookspecs(module)``.
    :return: nothing.

    Called once per plugin as it registers (historic: replayed for later plugins). New hook names
    must start with ``receiver_``. If it raises, startup fails: a plugin that cannot declare its
    own contract cannot be trusted to run.
    """


@hookspec(historic=True)
def receiver_plugin_registered(plugin: object, plugin_name: str, manager: ReceiverPluginManager) -> None:
    """Observe every plugin registration (for audit logs or admin pages).

    :param plugin: the registered module or object.
    :param plugin_name: its name (the entry-point name for protocol plugins).
    :param manager: the plugin manager.
    :return: nothing.

    Historic, called *each*: replayed for plugins registered later. If it raises, the observing
    plugin is marked failed; the registration itself stands.
    """


@hookspec
def receiver_config_sections(registry: SectionRegistry) -> None:
    """Declare the plugin's typed config section.

    :param registry: call ``registry.add(name, AttrsClass, description=...)``; the plugin's own
        section is ``[plugin.<name>]``.
    :return: nothing.

    Called once before the configuration is validated. Each key of the attrs class gets a type, a
    default and a description (``attrs.field(metadata={"description": ...})``). If it raises, or
    two plugins register the same name, startup fails with a ``ConfigError``.
    """


@hookspec(historic=True)
def receiver_configure(receiver: Receiver) -> None:
    """The configuration is validated and frozen; read your section with ``receiver.plugin_config(name)``.

    :param receiver: the receiver (not started yet).
    :return: nothing.

    Historic, called *each*. If it raises, that plugin is marked failed and is not started.
    """


@hookspec
def receiver_startup(receiver: Receiver) -> Awaitable[None] | None:
    """Start background work. May await.

    :param receiver: the running receiver. Use ``receiver.spawn(coro)`` for tasks (a crash marks
        the plugin failed, nothing else stops) and ``receiver.on_unload(callback)`` for cleanup.
    :return: nothing, or an awaitable the core awaits.

    Called *each* after configure, before listeners are bound and services advertised. Raising
    ``NotReady`` retries this plugin's startup with backoff (1, 2, 4 … 30 s); any other exception
    marks the plugin failed.
    """


@hookspec
def receiver_shutdown(receiver: Receiver) -> Awaitable[None] | None:
    """Symmetric teardown; the plugin's ``on_unload`` callbacks run right after. May await.

    :param receiver: the receiver being stopped.
    :return: nothing, or an awaitable.

    Called *each*, also for a plugin retired after a failure. Exceptions are logged; teardown of
    the others continues.
    """


# ========================================================================================= discovery


@hookspec
def receiver_mdns_services(receiver: Receiver, interface: NetInterface) -> Sequence[ServiceAdvertisement] | None:
    """DNS-SD services to publish on one interface. Return data: the core owns the mDNS socket.

    :param receiver: the receiver.
    :param interface: an interface that is up, has an address and a role the admin advertises on.
    :return: a list of ``ServiceAdvertisement`` (or ``None`` for none). The core registers them
        with the interface addresses, renames on conflict, updates them when the box name, the
        configuration or the network changes, and sends goodbyes when they disappear.

    Called *each*, again after every network or name change. If it raises, that plugin is marked
    failed and its advertisements are withdrawn.
    """


@hookspec
def receiver_wfd_subelements(receiver: Receiver) -> Sequence[WfdSubelement] | None:
    """Wi-Fi Display subelements to put in the global ``WFDIEs`` of wpa_supplicant.

    :param receiver: the receiver.
    :return: a list of ``WfdSubelement``; the core merges all plugins' lists. Two plugins giving the
        same subelement id is refused naming both (the later contribution is dropped).

    Called *each* at startup and after network changes. If it raises, that plugin is marked failed.
    """


@hookspec(firstresult=True)
def receiver_p2p_device_config(receiver: Receiver) -> P2PDeviceConfig | None:
    """Wi-Fi Direct device settings (device name, GO intent, listen channel).

    :param receiver: the receiver.
    :return: a ``P2PDeviceConfig``, or ``None`` for no opinion. Stops at first non-None result.

    Must answer synchronously. If it raises, the core uses defaults (box name, GO intent 15).
    """


@hookspec
def receiver_listeners(receiver: Receiver) -> Sequence[ListenerSpec] | None:
    """Sockets the plugin needs. The core binds them and closes them when the plugin unloads.

    :param receiver: the receiver.
    :return: a list of ``ListenerSpec``. Two plugins asking for the same transport and port is a
        clash: the later plugin is marked failed naming both. A port the OS refuses (in use) marks
        the plugin failed with the OS error.

    Called *each* at startup, after ``receiver_startup``.
    """


# ========================================================================================== sessions


@hookspec(firstresult=True)
def receiver_session_authorize(receiver: Receiver, request: SessionRequest) -> AuthDecision | None:
    """May this sender present? Tri-state: allow, deny, or challenge (PIN and/or approval).

    :param receiver: the receiver.
    :param request: who asks (protocol, address, stable id, name, PIN typed if any).
    :return: an ``AuthDecision``, or ``None`` for no opinion. Stops at first non-None result.
        When every plugin answers ``None`` the core denies.

    Must answer synchronously and must not block: an authorization needing I/O returns
    ``challenge(approval=True)`` and lets moderation wait; network-consulting impls use
    ``trylast=True``. **Fails closed:** if any impl raises or returns an awaitable, the request is
    denied and the plugin named in the log.
    """


@hookspec(firstresult=True)
def receiver_session_admit(receiver: Receiver, session: Session, active: Sequence[Session]) -> Admission | None:
    """Authorized: on screen now, queued, preempting someone, or rejected?

    :param receiver: the receiver.
    :param session: the newcomer.
    :param active: sessions on screen now (active or paused), oldest first.
    :return: an ``Admission``, or ``None`` for no opinion. Stops at first non-None result.

    Must answer synchronously. If it raises or nobody answers, the built-in policy from
    ``[session] max_presenters`` / ``admission`` decides.
    """


@hookspec
def receiver_session_started(receiver: Receiver, session: Session) -> Awaitable[None] | None:
    """Observe a session going on screen (stats, UI, logs). May await.

    :param receiver: the receiver.
    :param session: the session, now active.
    :return: nothing, or an awaitable.

    Called *each*; a raising observer is marked failed, the session is unaffected.
    """


@hookspec
def receiver_session_ended(receiver: Receiver, session: Session, reason: str) -> Awaitable[None] | None:
    """Observe a session ending. May await.

    :param receiver: the receiver.
    :param session: the session, now ended.
    :param reason: ``normal``, ``preempted``, ``kicked``, ``blocked``, ``denied``, ``error: …``,
        ``shutdown`` or a protocol-specific text.
    :return: nothing, or an awaitable.

    Called *each*; a raising observer is marked failed.
    """


@hookspec
def receiver_moderation_action(receiver: Receiver, session: Session, action: str, actor: str) -> None:
    """Observe a moderation action: ``approve``, ``deny``, ``kick``, ``block``, ``pause``, ``resume``.

    :param receiver: the receiver.
    :param session: the session acted on.
    :param action: what was done.
    :param actor: who did it (``api:<address>``, ``policy``, ``cli``).
    :return: nothing.

    Called *each*; a raising observer is marked failed.
    """


@hookspec(firstresult=True)
def receiver_meeting_id(receiver: Receiver, previous: str | None) -> str | None:
    """Issue the next meeting ID (e.g. from a cloud service that already holds one).

    :param receiver: the receiver.
    :param previous: the ID being replaced, or ``None`` at startup.
    :return: the new ID (digits, 4..12 characters), or ``None`` to let the core draw a random
        6-digit ID different from ``previous``.
        Stops at first non-None result.

    Called at startup and whenever the room goes idle. Must answer synchronously. If it raises or
    returns something invalid, the core draws a random ID.
    """


# ====================================================================================== media/display


@hookspec
def receiver_register_decoders(registry: DecoderRegistry) -> None:
    """Register decoders: ``registry.add(DecoderSpec(name, codec, rank, factory, accepts=...))``.

    :param registry: the decoder registry; the highest-ranked decoder accepting the caps wins,
        ``[decoders.rank]`` in config overrides ranks (0 = never auto-pick).
    :return: nothing.

    Called once at startup. A duplicate decoder name fails startup naming both plugins.
    """


@hookspec(firstresult=True)
def receiver_select_decoder(caps: MediaCaps, candidates: Sequence[DecoderSpec]) -> DecoderSpec | None:
    """Rarely needed override of the ranked decoder choice.

    :param caps: what the source carries.
    :param candidates: decoders that accept the caps, best rank first (rank 0 excluded).
    :return: one of ``candidates``, or ``None`` to keep the ranked choice.
        Stops at first non-None result.

    Must answer synchronously. If it raises or returns something not in ``candidates``, the ranked
    choice is used.
    """


@hookspec
def receiver_register_display_backends(registry: DisplayBackendRegistry) -> None:
    """Register display backends by name: ``registry.add(name, factory, available=callable)``.

    :param registry: the display backend registry; ``[display] backend`` picks one by name, ``auto``
        takes ``window`` when a display is available, else ``headless``.
    :return: nothing.

    Called once at startup. A duplicate name fails startup naming both plugins.
    """


@hookspec
def receiver_register_audio_backends(registry: AudioBackendRegistry) -> None:
    """Register audio output backends by name (``sdl``, ``wav``, ``null`` are built in).

    :param registry: the audio backend registry; ``[audio] backend`` picks one.
    :return: nothing.

    Called once at startup. A duplicate name fails startup naming both plugins.
    """


@hookspec(firstresult=True)
def receiver_layout(receiver: Receiver, screen: Screen, sessions: Sequence[Session]) -> Layout | None:
    """Where each on-screen session goes and which one is heard.

    :param receiver: the receiver.
    :param screen: output size.
    :param sessions: sessions on screen (active, not paused), oldest first.
    :return: a ``Layout`` (tiles and audio focus), or ``None`` for no opinion.
        Stops at first non-None result.

    Must answer synchronously. If it raises, every session is drawn full screen in turn (the
    newest on top) with the newest heard.
    """


@hookspec
def receiver_overlays(receiver: Receiver, screen: Screen, state: IdleState) -> Sequence[Overlay] | None:
    """Items for the idle screen and banners: box name, how to connect, PIN, meeting ID, QR code.

    :param receiver: the receiver.
    :param screen: output size.
    :param state: name, PIN, meeting ID, idle or not, addresses.
    :return: a list of ``Overlay``. Call ``receiver.display.invalidate()`` when your items change.

    Called *each* whenever the idle screen is redrawn (PIN rotation, meeting ID change, network or
    plugin change). A raising plugin is marked failed and its items dropped.
    """


# =========================================================================================== network


@hookspec
def receiver_network_changed(receiver: Receiver, change: NetChange) -> Awaitable[None] | None:
    """Interfaces or addresses changed; the core already re-ran discovery and listeners. May await.

    :param receiver: the receiver.
    :param change: names added, removed and changed, plus the new snapshot.
    :return: nothing, or an awaitable.

    Called *each* after the debounced netlink events; a raising plugin is marked failed.
    """


# ============================================================================================= admin


@hookspec
def receiver_admin_routes(receiver: Receiver) -> Sequence[Route] | None:
    """HTTP routes mounted under ``/plugins/<name>/`` on the status/admin server.

    :param receiver: the receiver.
    :return: a list of ``Route``. Non-public routes require the admin password like every
        moderation endpoint.

    Called *each* once when the server starts; a raising plugin is marked failed and its routes
    skipped.
    """


@hookspec
def receiver_status(receiver: Receiver) -> dict[str, Any] | None:
    """A small JSON-able dict shown under the plugin's entry in ``GET /api/status``.

    :param receiver: the receiver.
    :return: a dict (no secrets: PINs, keys and passwords never go here), or ``None``.

    Called *each* per status request; must be cheap and synchronous. A raising plugin is marked
    failed.
    """
