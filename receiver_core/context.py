"""``PluginContext``: what one plugin may use of the box, typed and bound to the plugin's name.

A plugin gets exactly one context (its constructor argument, or the ``ctx`` argument of any hook).
Everything a protocol needs goes through it: its typed config section, supervised tasks and
threads, unload callbacks, its listeners' ports, a logger, its own state directory, and narrow
facades over sessions, media, the display and the network. It has no plugin manager, no other
plugin's sessions and no admin secrets.

Work started through the context is owned by the plugin wherever it runs: a task spawned from a
thread callback, a thread's exception, a crash in a callback handed to the loop all retire the
owning plugin, never "core".

The context is created when the plugin registers, before the box runs: ``name``, ``log`` and
``on_unload`` work at once; the config is there from ``receiver_configure`` on; the rest from
``receiver_startup`` on (earlier use raises ``PluginError`` saying so).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .attribution import acting_as
from .errors import PluginError
from .model import StreamRole

if TYPE_CHECKING:
    from .config import Config
    from .display.tap import TapReader
    from .media.caps import MediaSource
    from .media.pipeline import Link
    from .model import NetSnapshot, SessionRequest
    from .session.manager import Session, SessionHandler

__all__ = [
    "PluginContext",
    "CoreContext",
    "ContextHost",
    "BoxInfo",
    "SessionsFacade",
    "PinFacade",
    "MediaFacade",
    "DisplayFacade",
    "NetworkFacade",
]

C = TypeVar("C")
T = TypeVar("T")


class ContextHost(Protocol):
    """What a context needs from the running box (the ``Receiver`` implements it)."""

    @property
    def config(self) -> Config: ...

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def state_dir(self) -> Path: ...

    @property
    def running(self) -> bool: ...

    @property
    def network(self) -> NetSnapshot: ...

    @property
    def sessions(self) -> Any: ...  # session.manager.SessionManager

    @property
    def media(self) -> Any: ...  # media.engine.MediaEngine

    @property
    def display(self) -> Any: ...  # display.service.DisplayService

    def advertised_addresses(self) -> list[str]: ...

    def listener_port(self, plugin: str, name: str) -> int | None: ...

    def spawn_for(self, owner: str, coro: Coroutine[Any, Any, T], name: str | None) -> asyncio.Task[T]: ...

    def add_unload(self, owner: str, callback: Callable[[], Any]) -> None: ...

    def plugin_crashed(self, owner: str, error: BaseException, where: str) -> None: ...

    def call_hook(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]: ...

    def loop(self) -> asyncio.AbstractEventLoop: ...


class PluginContext:
    """One plugin's view of the box. Created by the plugin host; plugins never build one."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.log = logging.getLogger(f"receiver_plugins.{name}")
        self._host: ContextHost | None = None
        self._pending_unload: list[Callable[[], Any]] = []
        self.sessions = SessionsFacade(self)
        self.media = MediaFacade(self)
        self.display = DisplayFacade(self)
        self.network = NetworkFacade(self)
        self.box = BoxInfo(self)

    def __repr__(self) -> str:
        return f"<PluginContext {self.name}>"

    # ------------------------------------------------------------------------------------ binding

    def bind(self, host: ContextHost) -> None:
        """Called by the core when the box is built (not for plugins)."""
        self._host = host
        for callback in self._pending_unload:
            host.add_unload(self.name, callback)
        self._pending_unload.clear()

    def host(self) -> ContextHost:
        if self._host is None:
            raise PluginError(f"plugin {self.name!r}: the box is not built yet (use the context from "
                              "receiver_configure / receiver_startup on)")
        return self._host

    # ------------------------------------------------------------------------------------ config

    def config(self, section: type[C]) -> C:
        """The validated ``[plugin.<name>]`` section, an instance of ``section`` (your attrs class)."""
        value = self.host().config.plugin.get(self.name)
        if not isinstance(value, section):
            raise PluginError(f"plugin {self.name!r}: its config section is {type(value).__name__}, "
                              f"not {section.__name__} (declare it in receiver_config_sections)")
        return value

    @property
    def state_dir(self) -> Path:
        """The plugin's own directory (``<state_dir>/plugins/<name>``, mode 0700, made on first use).

        Keys go here, written 0600; nothing here is ever logged or shown in status."""
        path = self.host().state_dir / "plugins" / self.name
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
        return path

    # ------------------------------------------------------------------------------------ work

    def spawn(self, coro: Coroutine[Any, Any, T], name: str | None = None) -> asyncio.Task[T]:
        """Start a supervised task owned by this plugin: cancelled when it unloads, a crash retires it.

        The only way a plugin starts async work; safe to call from any callback on the loop."""
        try:
            host = self.host()
        except PluginError:
            coro.close()
            raise
        return host.spawn_for(self.name, coro, name)

    def start_thread(self, target: Callable[..., Any], *args: Any, name: str | None = None) -> threading.Thread:
        """Run ``target(*args)`` in a daemon thread owned by this plugin; an exception retires the plugin.

        Threads cannot be cancelled: stop yours from an ``on_unload`` callback (a flag, a closed pipe)."""
        host = self.host()
        loop = host.loop()

        def run() -> None:
            try:
                target(*args)
            except BaseException as exc:  # noqa: BLE001 - reported to the owner, never swallowed
                if not loop.is_closed():
                    loop.call_soon_threadsafe(host.plugin_crashed, self.name, exc, "thread")
        thread = threading.Thread(target=run, name=name or f"{self.name}:{getattr(target, '__name__', 'thread')}",
                                  daemon=True)
        thread.start()
        return thread

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any) -> None:
        """From any thread: run ``callback(*args)`` on the loop as this plugin (a raise retires it)."""
        host = self.host()
        loop = host.loop()
        if loop.is_closed():
            return
        loop.call_soon_threadsafe(self.run_as, callback, *args)

    def run_as(self, callback: Callable[..., T], *args: Any) -> T | None:
        """Run ``callback(*args)`` attributed to this plugin; an exception retires it and returns ``None``."""
        with acting_as(self.name):
            try:
                return callback(*args)
            except Exception as exc:
                self.host().plugin_crashed(self.name, exc, "callback")
                return None

    def on_unload(self, callback: Callable[[], Any]) -> None:
        """Run ``callback()`` (it may return an awaitable) when this plugin stops or is retired."""
        if self._host is None:
            self._pending_unload.append(callback)
        else:
            self._host.add_unload(self.name, callback)

    def listener_port(self, name: str) -> int | None:
        """The port really bound for this plugin's ``ListenerSpec(name, ...)`` (useful with port 0)."""
        return self.host().listener_port(self.name, name)

    def call_hook(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a hook this plugin declared (``receiver_addhooks``): ``(plugin, answer)`` pairs.

        Each implementation runs as its own plugin; one that raises is marked failed and left out."""
        return self.host().call_hook(hook_name, **kwargs)


class CoreContext(PluginContext):
    """The context of the core's own built-in plugins: also reads the core's settings."""

    @property
    def core_config(self) -> Config:
        return self.host().config


class BoxInfo:
    """The box as a sender sees it."""

    def __init__(self, ctx: PluginContext) -> None:
        self._ctx = ctx

    @property
    def name(self) -> str:
        """The current box name (changes at run time: rename, SIGHUP)."""
        return self._ctx.host().name

    @property
    def version(self) -> str:
        return self._ctx.host().version


class PinFacade:
    """The box PIN for protocols that check it inside their own handshake (SRP pairing, RTSP Digest).

    Every check, wherever it happens, counts towards the same per-sender lockout."""

    def __init__(self, ctx: PluginContext) -> None:
        self._ctx = ctx

    def _gate(self) -> Any:
        return self._ctx.host().sessions.pin

    @property
    def required(self) -> bool:
        """Whether senders must prove the PIN."""
        return bool(self._gate().required)

    @property
    def current(self) -> str | None:
        """The PIN itself, for handshakes that derive keys from it. Never log it or put it in status."""
        value: str | None = self._gate().current()
        return value

    def check_locked(self, identity: str) -> None:
        """Raise ``AuthFailed`` while ``identity`` is locked out (call before an expensive handshake)."""
        self._gate().check_locked(identity)

    def report(self, identity: str, ok: bool) -> None:
        """Count a PIN proof the protocol checked itself; raises ``AuthFailed`` for a wrong one."""
        self._gate().report(identity, ok)

    def verify(self, identity: str, candidate: str | None) -> None:
        """Check a typed PIN in constant time; raises ``PinRequired`` or ``AuthFailed``."""
        self._gate().verify(identity, candidate)


class SessionsFacade:
    """Sessions of this plugin's protocol: request one for a sender, end it, list them."""

    def __init__(self, ctx: PluginContext) -> None:
        self._ctx = ctx
        self.pin = PinFacade(ctx)

    def _manager(self) -> Any:
        return self._ctx.host().sessions

    def _own(self, session: Session) -> None:
        if session.protocol != self._ctx.name:
            raise PluginError(f"plugin {self._ctx.name!r} may only act on its own sessions "
                              f"(session {session.id} is {session.protocol!r})")

    async def request(self, request: SessionRequest, handler: SessionHandler | None = None) -> Session:
        """Run the core's admission (blocks, PIN, approval, admission policy) for one sender.

        ``request.protocol`` must be this plugin's name. Returns the session once it is on screen
        or queued; raises ``SessionRejected``, ``PinRequired`` or ``AuthFailed``. ``handler.stop``
        is how the core ends it (kick, block, preemption, shutdown): it must disconnect the sender."""
        if request.protocol != self._ctx.name:
            raise PluginError(f"plugin {self._ctx.name!r} asked for a session of protocol {request.protocol!r}")
        session: Session = await self._manager().request(request, handler)
        return session

    async def end(self, session: Session, reason: str = "normal") -> None:
        """End one of this plugin's sessions (the sender left, the protocol failed)."""
        self._own(session)
        await self._manager().end(session, reason)

    def mine(self) -> list[Session]:
        """This plugin's sessions that have not ended."""
        return [s for s in self._manager().all() if s.protocol == self._ctx.name]

    @property
    def meeting_id(self) -> str:
        """The current meeting ID (shown on screen)."""
        return str(self._manager().meeting.current)

    def meeting_matches(self, candidate: str) -> bool:
        """Whether ``candidate`` is the current meeting ID (constant time)."""
        return bool(self._manager().meeting.matches(candidate))


class MediaFacade:
    """Feeding a session's media into the core's decoders, compositor and audio output."""

    def __init__(self, ctx: PluginContext) -> None:
        self._ctx = ctx

    async def attach(self, session: Session, source: MediaSource, role: StreamRole = StreamRole.MAIN) -> Link:
        """Link ``source`` to ``session``; raises ``UnsupportedMedia`` at once if nothing can decode it.

        A session has one audio stream and one video stream per ``role``: ``StreamRole.MAIN`` (what
        the sender shares) and ``StreamRole.CAMERA`` (the presenter's camera, drawn as an inset of
        the session's tile or as a tile of its own, as ``[display] camera`` says). A second stream
        of the same kind and role, or audio with another role, raises ``MediaError``."""
        self._ctx.sessions._own(session)
        link: Link = await self._ctx.host().media.attach(session, source, role)
        return link

    async def detach(self, session: Session, link: Link) -> None:
        """Stop one stream before the session ends (the camera was turned off): its link stops and its
        tile or inset leaves the screen; the session goes on. Attach again when the stream comes back.
        The session's streams all stop by themselves when it ends."""
        self._ctx.sessions._own(session)
        await self._ctx.host().media.detach(session, link)


class DisplayFacade:
    def __init__(self, ctx: PluginContext) -> None:
        self._ctx = ctx
        self._readers: set[TapReader] = set()
        self._unload_registered = False

    def invalidate(self) -> None:
        """Your overlays changed: redraw the idle screen soon (coalesced)."""
        display = self._ctx.host().display
        if display is not None:
            display.invalidate()

    def watch(self, max_width: int = 1280, max_height: int = 720, max_fps: float = 15.0) -> TapReader:
        """Watch the room's composite (view-back): a ``TapReader`` whose ``await next()`` returns the
        composite as a shared, read-only ``av.VideoFrame`` (yuv420p, BT.709, the screen's aspect
        ratio within ``max_width`` x ``max_height``, pts in 1/90000 s), at most ``max_fps`` a second
        and only when the display presents something (an idle box: about once a second).

        Readers of the same size and rate share one tap: the composite is scaled once for all of
        them, in the display thread, after the screen got it; nobody watching costs nothing.
        ``close()`` the reader when done; the plugin's unload closes the ones left open. Call on
        the event loop; raises ``PluginError`` when the box has no display service, ``ValueError``
        for a size under 16x16 or a rate outside 0 < fps <= 30."""
        display = self._ctx.host().display
        if display is None:
            raise PluginError(f"plugin {self._ctx.name!r}: the box has no display to watch")
        reader: TapReader = display.watch(max_width, max_height, max_fps)
        self._readers = {r for r in self._readers if not r.closed}
        self._readers.add(reader)
        if not self._unload_registered:
            self._unload_registered = True
            self._ctx.on_unload(self._close_readers)
        return reader

    def _close_readers(self) -> None:
        for reader in list(self._readers):
            reader.close()
        self._readers.clear()


class NetworkFacade:
    def __init__(self, ctx: PluginContext) -> None:
        self._ctx = ctx

    @property
    def snapshot(self) -> NetSnapshot:
        """Every interface as the core last saw it."""
        return self._ctx.host().network

    def advertised_addresses(self) -> list[str]:
        """IPv4 addresses of the interfaces the admin advertises on."""
        return self._ctx.host().advertised_addresses()

