"""The ``null`` display (counts frames) and the ``headless`` one (keeps the latest composite for the
status API's JPEG snapshot and MJPEG preview)."""

from __future__ import annotations

import io
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from ..model import Screen

if TYPE_CHECKING:
    from .registry import OutputSettings

__all__ = ["NullDisplay", "HeadlessDisplay", "i420_to_rgb"]


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
    #: the display service hands over a canvas it leaves alone until the next ``present`` returns
    keeps_canvas = True

    def __init__(self, settings: OutputSettings | None = None) -> None:
        self.frames = 0
        self.generation = 0
        self.screen: Screen | None = None
        self._latest: np.ndarray | None = None
        self._lock = threading.Lock()
        self.quality = settings.display.jpeg_quality if settings is not None else 80

    def open(self, screen: Screen) -> None:
        self.screen = screen

    def present(self, canvas: np.ndarray) -> None:
        # kept as it is, no copy: the display service draws the next composite into its other
        # canvas (``keeps_canvas``) and touches this one only after the next present has returned
        with self._lock:
            self._latest = canvas
            self.frames += 1
            self.generation += 1

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
