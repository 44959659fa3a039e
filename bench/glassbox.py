"""The box as ``montage-receiver run`` starts it, plus one bench-only display backend, ``glass``: the
headless display (it keeps each composite, as for the status API's snapshot) that also reads the
frame numbers ``bench/clock.py`` paints into the clock stream and notes when each number first
reached the canvas. Run as ``python bench/glassbox.py CONFIG`` (``[display] backend = "glass"``);
``GET /api/status`` then lists, under the plugin ``benchglass``, the last observations.

The time noted is ``time.monotonic()`` right after the headless backend took the composite (the
moment a screen would get it); reading the codes happens after that and is not in the latency
(about 0.1 ms per composite, in the display thread: a little of the box's CPU in this run only).
"""

from __future__ import annotations

import asyncio
import collections
import sys
import time
from pathlib import Path
from typing import Any

from receiver_core.memory import single_arena

single_arena()  # as `montage-receiver run` does, before any import starts a thread (numpy's BLAS)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import clock  # noqa: E402

from receiver_core import hookimpl  # noqa: E402
from receiver_core.display.headless import HeadlessDisplay  # noqa: E402

#: observations kept (4 tiles × 30 fps × ~40 s)
KEEP = 5000


class GlassDisplay(HeadlessDisplay):
    name = "glass"

    def __init__(self, settings: Any = None) -> None:
        super().__init__(settings)
        self.seen: collections.deque[tuple[str, int, float]] = collections.deque(maxlen=KEEP)
        self.present_ms: collections.deque[float] = collections.deque(maxlen=KEEP)
        self._last: dict[str, int] = {}

    def present(self, canvas: np.ndarray) -> None:
        started = time.monotonic()
        super().present(canvas)
        shown = time.monotonic()
        self.present_ms.append((shown - started) * 1000)
        if self.screen is None or (self.screen.width, self.screen.height) != (1920, 1080):
            return
        for tile, index in clock.read(canvas[:1080]).items():
            if self._last.get(tile) != index:
                self._last[tile] = index
                self.seen.append((tile, index, shown))


class GlassPlugin:
    """Registers the ``glass`` backend and reports what it saw in ``receiver_status``."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.backend: GlassDisplay | None = None

    @hookimpl
    def receiver_register_display_backends(self, registry: Any, ctx: Any) -> None:
        def factory(settings: Any) -> GlassDisplay:
            self.backend = GlassDisplay(settings)
            return self.backend

        registry.add("glass", factory)

    @hookimpl
    def receiver_status(self) -> dict[str, Any]:
        if self.backend is None:
            return {}
        return {"seen": list(self.backend.seen), "present_ms": list(self.backend.present_ms)}


def main() -> int:
    from receiver_core.app import Receiver

    receiver = Receiver.load(sys.argv[1], extra_plugins=[("benchglass", GlassPlugin)])
    asyncio.run(receiver.run_until_signalled())
    return 0


if __name__ == "__main__":
    sys.exit(main())
