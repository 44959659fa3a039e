"""The WebRTC engine: aiortc (and with it PyAV/FFmpeg) loaded with the first peer, not at start-up.

An idle box, its join page, TLS, signalling and PIN check need nothing of aiortc, which brings
PyAV and FFmpeg with it (about 27 MiB of RSS; docs/architecture.md, "An idle box imports only what
idle needs"). This module is the plugin's one door to the modules that import aiortc: ``peer``,
``viewback_track`` and the patch layer (``aiortc_patches``, ``receive_path``). Everywhere else they
are imported for type checking only.

``Engine.ready`` (started when the first browser is admitted, while its user picks a screen, and awaited
by every offer) loads them off the event loop and
applies the patch layer, once per engine (a lock makes concurrent first offers load once); ``Engine.close``
undoes the patches it applied. ``check_installed`` reads the pinned versions from the installed
distributions without importing them, so a wrong aiortc still stops the plugin at start-up.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import attrs

from receiver_core import QueueSource, StreamRole

if TYPE_CHECKING:
    from aiortc import RTCIceServer

    from .peer import Peer
    from .viewback import Reader
    from .viewback_track import ViewBackTrack

__all__ = ["AIORTC_VERSION", "AIOICE_VERSION", "PatchMismatch", "check_installed", "PeerOptions", "Attach",
           "Spawn", "Engine"]

AIORTC_VERSION = "1.16.0"
AIOICE_VERSION = "0.13.0"

Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]
Attach = Callable[[QueueSource, StreamRole], Awaitable[Any]]


class PatchMismatch(RuntimeError):
    """The installed aiortc/aioice no longer matches what a patch was written for."""


def check_installed() -> None:
    """Refuse other aiortc/aioice versions than the patches were written against (nothing imported)."""
    for name, pinned in (("aiortc", AIORTC_VERSION), ("aioice", AIOICE_VERSION)):
        installed = importlib.metadata.version(name)
        if installed != pinned:
            raise PatchMismatch(f"{name} {installed} installed, patches written for {pinned}")


@attrs.frozen
class PeerOptions:
    start_kbps: int = 4000
    min_kbps: int = 2000
    max_kbps: int = 8000
    inactivity_seconds: float = 5.0
    first_frame_seconds: float = 20.0
    ice_servers: tuple[RTCIceServer, ...] = ()
    video_codec: str = "any"  # "vp8", "h264" or "any" (the browser's order)
    video_queue: int = 4
    audio_queue: int = 25
    camera_idle_seconds: float = 2.0  # a camera without frames this long is off: its inset goes


class Engine:
    """aiortc for one plugin instance: loaded and patched at the first peer, unpatched by ``close``.

    ``addresses`` gives the ICE host-candidate addresses (``None``: aioice's own choice);
    ``receive_fixes`` installs the video receive-path fixes with ``loss_deadline`` seconds.
    """

    def __init__(self, options: PeerOptions | None = None, *, addresses: Callable[[], list[str]] | None = None,
                 receive_fixes: bool = True, loss_deadline: float = 0.25) -> None:
        self.options = options or PeerOptions()
        self._addresses = addresses
        self._receive_fixes = receive_fixes
        self._loss_deadline = loss_deadline
        self._lock = threading.Lock()
        self._loaded = False
        self._closed = False
        self._installed_receive_fixes = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        """Import aiortc and apply the patch layer; idempotent, thread-safe. Blocks for the imports."""
        with self._lock:
            if self._loaded:
                return
            if self._closed:
                raise RuntimeError("the WebRTC engine is closed")
            from . import aiortc_patches, receive_path

            aiortc_patches.check_versions()
            if self._addresses is not None:
                aiortc_patches.host_addresses(self._addresses)
            aiortc_patches.rtx_routing(True)  # a screen and a camera share payload types: retransmissions by SSRC
            if self._receive_fixes and not receive_path.installed():
                receive_path.install(deadline=self._loss_deadline)
                self._installed_receive_fixes = True
            self._loaded = True

    async def ready(self) -> None:
        """``load`` off the event loop (the imports take about half a second on a busy 2-core box)."""
        if not self._loaded:
            await asyncio.get_running_loop().run_in_executor(None, self.load)

    def peer(self, *, name: str, attach: Attach, detach: Callable[[Any], Awaitable[None]],
             gone: Callable[[str], Awaitable[None]], spawn: Spawn) -> Peer:
        """A new peer connection (see ``peer.Peer``); ``await ready()`` first, or this blocks to load."""
        self.load()
        from .peer import Peer

        return Peer(name=name, options=self.options, attach=attach, detach=detach, gone=gone, spawn=spawn)

    def view_back_track(self, reader: Reader, on_stop: Callable[[ViewBackTrack], None]) -> ViewBackTrack:
        """A view-back track for a peer (only peers ask, so aiortc is loaded by then)."""
        self.load()
        from .viewback_track import ViewBackTrack

        return ViewBackTrack(reader, on_stop)

    def close(self) -> None:
        """Undo the patches this engine applied; an engine that never loaded imports nothing here."""
        with self._lock:
            self._closed = True
            if not self._loaded:
                return
            from . import aiortc_patches, receive_path

            if self._addresses is not None:
                aiortc_patches.host_addresses(None)
            aiortc_patches.rtx_routing(False)
            if self._installed_receive_fixes and receive_path.installed():
                receive_path.uninstall()
            self._loaded = False
