"""The display backend protocol and whether a screen or an audio device is there.

A display backend receives the composite as one I420 (yuv420p) array of shape ``(h * 3 / 2, w)``
from the display thread and does the final colour conversion itself (SDL's YUV textures), or
nothing at all (``null``), or keeps it for the status API (``headless``: JPEG snapshot, MJPEG
stream, PNG snapshots).

A backend that can scale pictures itself (on a GPU) sets ``scales_tiles = True`` once it is open
and implements ``present_tiles(scene)`` (``TileDrawing``): while sessions are shown and nobody
watches the composite, the display service then hands it a ``display.scene.Scene`` (each tile's
frame at its decoded size, where it goes, labels, the strip) instead of a canvas, and the decode
threads scale nothing. The idle screen, and composites while a tap watches, still come through
``present``.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..model import Screen

if TYPE_CHECKING:
    from .scene import Scene

__all__ = ["DisplayBackend", "TileDrawing", "display_available", "audio_available"]

log = logging.getLogger(__name__)


class DisplayBackend(Protocol):
    name: str

    def open(self, screen: Screen) -> None:
        """Called in the display thread before the first frame."""

    def present(self, canvas: np.ndarray) -> None:
        """Show one composite (I420, shape ``(h*3//2, w)``); called in the display thread.

        A writable canvas is reused for the next composite: copy what you keep, unless the backend
        sets ``keeps_canvas = True``: then the display service alternates between two canvases and
        leaves the one it handed over alone until the next ``present`` has returned (the headless
        display keeps it without a copy). A read-only one (the idle screen) never changes."""

    def close(self) -> None:
        """Called in the display thread at shutdown."""

    def status(self) -> dict[str, Any]:
        """Counters for the status API."""


class TileDrawing(DisplayBackend, Protocol):
    """A display backend that scales the tiles itself (see the module docstring)."""

    #: True once ``open`` found it can (the SDL window: an accelerated renderer); read by the display thread
    scales_tiles: bool

    def present_tiles(self, scene: Scene) -> None:
        """Show ``scene``: black, then its pictures bottom to top, each scaled into its placement.

        Called in the display thread. A picture's image is a new object when it changed (upload it
        then; ``SceneTile.generation`` says the same for frames); its planes stay valid until the
        next call.
        """


def display_available() -> bool:
    """A window can open: X11/Wayland session, an SDL driver chosen explicitly, or a DRM device (KMSDRM)."""
    if any(os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")):
        return True
    return any(name.startswith("card") for name in _listdir("/dev/dri"))


def audio_available() -> bool:
    """An audio device or server is likely there (SDL then picks PulseAudio, PipeWire or ALSA)."""
    if os.environ.get("SDL_AUDIODRIVER") or os.environ.get("PULSE_SERVER"):
        return True
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and (os.path.exists(f"{runtime}/pulse/native") or os.path.exists(f"{runtime}/pipewire-0")):
        return True
    return any(name.startswith("pcm") for name in _listdir("/dev/snd"))


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []

