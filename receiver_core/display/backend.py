"""Display backends: the protocol, the ``null`` and ``headless`` displays, and device availability.

A display backend receives the composite as one I420 (yuv420p) array of shape ``(h * 3 / 2, w)``
from the display thread and does the final colour conversion itself (SDL's YUV textures), or
nothing at all (``null``), or keeps it for the status API (``headless``: JPEG snapshot, MJPEG
stream, PNG snapshots).
"""

from __future__ import annotations

import io
import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..model import Screen

if TYPE_CHECKING:
    from .registry import OutputSettings

__all__ = [
    "DisplayBackend",
    "NullDisplay",
    "HeadlessDisplay",
    "i420_to_rgb",
    "display_available",
    "audio_available",
]

log = logging.getLogger(__name__)


class DisplayBackend(Protocol):
    name: str

    def open(self, screen: Screen) -> None:
        """Called in the display thread before the first frame."""

    def present(self, canvas: np.ndarray) -> None:
        """Show one composite (I420, shape ``(h*3//2, w)``); called in the display thread.

        A writable canvas is reused for the next composite: copy what you keep. A read-only one
        (the idle screen) never changes."""

    def close(self) -> None:
        """Called in the display thread at shutdown."""

    def status(self) -> dict[str, Any]:
        """Counters for the status API."""


def i420_to_rgb(canvas: np.ndarray, width: int, height: int) -> np.ndarray:
    """RGB copy of an I420 (BT.709) composite through libswscale (for snapshots and tests)."""
    import av

    frame = av.VideoFrame.from_ndarray(canvas, format="yuv420p")
    return frame.reformat(format="rgb24", width=width, height=height, src_colorspace="ITU709",
                          dst_colorspace="ITU709").to_ndarray()


class NullDisplay:
    """Counts frames, shows nothing (benchmarks, tests that only look at stats)."""

    name = "null"

    def __init__(self, settings: OutputSettings | None = None) -> None:
        self.frames = 0
        self.screen: Screen | None = None

    def open(self, screen: Screen) -> None:
        self.screen = screen

    def present(self, canvas: np.ndarray) -> None:
        self.frames += 1

    def close(self) -> None:
        return None

    def status(self) -> dict[str, Any]:
        return {"backend": self.name, "frames": self.frames}


class HeadlessDisplay:
    """No screen: keeps the latest composite for ``/api/display/snapshot.jpg`` and the MJPEG preview."""

    name = "headless"

    def __init__(self, settings: OutputSettings | None = None) -> None:
        self.frames = 0
        self.generation = 0
        self.screen: Screen | None = None
        self._latest: np.ndarray | None = None
        self._spare: np.ndarray | None = None
        self._lock = threading.Lock()
        self.quality = settings.display.jpeg_quality if settings is not None else 80

    def open(self, screen: Screen) -> None:
        self.screen = screen

    def present(self, canvas: np.ndarray) -> None:
        # a read-only canvas (the idle screen) never changes: keep it; the compositor's is reused,
        # so it is copied into the spare of two buffers (no allocation per frame)
        if canvas.flags.writeable:
            if self._spare is None or self._spare.shape != canvas.shape:
                self._spare = np.empty_like(canvas)
            np.copyto(self._spare, canvas)
            latest = self._spare
        else:
            latest = canvas
        with self._lock:
            previous, self._latest = self._latest, latest
            self.frames += 1
            self.generation += 1
        self._spare = previous if previous is not None and previous.flags.writeable else None

    def close(self) -> None:
        return None

    def latest(self) -> np.ndarray | None:
        """A copy of the latest composite (the buffer itself is reused by the next present)."""
        with self._lock:
            return None if self._latest is None else self._latest.copy()

    def latest_rgb(self) -> np.ndarray | None:
        canvas = self.latest()
        if canvas is None or self.screen is None:
            return None
        return i420_to_rgb(canvas, self.screen.width, self.screen.height)

    def encode(self, fmt: str = "JPEG") -> bytes | None:
        from PIL import Image

        rgb = self.latest_rgb()
        if rgb is None:
            return None
        out = io.BytesIO()
        Image.fromarray(rgb).save(out, fmt, **({"quality": self.quality} if fmt == "JPEG" else {}))
        return out.getvalue()

    def status(self) -> dict[str, Any]:
        return {"backend": self.name, "frames": self.frames}


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

