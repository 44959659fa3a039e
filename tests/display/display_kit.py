"""Shared by the display tests: solid test frames, colour checks on read-back pixels, and a plugin
whose sessions are fed frames through its own context."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import av
import numpy as np

from receiver_core import PluginContext, QueueSource
from receiver_core.model import Rect


def frame(width: int, height: int, rgb: tuple[int, int, int]) -> av.VideoFrame:
    """A solid frame in the matrix a player assumes for its size (BT.709 above 576 lines, else BT.601)."""
    image = np.empty((height, width, 3), np.uint8)
    image[:] = rgb
    matrix = "ITU709" if height > 576 else "ITU601"
    return av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p", dst_colorspace=matrix)


def region(rgb: np.ndarray, r: Rect | tuple[int, int, int, int], pad: int = 4) -> np.ndarray:
    x, y, w, h = (r.x, r.y, r.width, r.height) if isinstance(r, Rect) else r
    return rgb[y + pad:y + h - pad, x + pad:x + w - pad].reshape(-1, 3).astype(float)


def assert_colour(rgb: np.ndarray, r: Rect | tuple[int, int, int, int], colour: tuple[int, int, int], what: str) -> None:
    pixels = region(rgb, r)
    assert pixels.size, f"{what}: empty region"
    worst = np.abs(pixels - np.array(colour)).max()
    assert worst <= 14, f"{what}: expected {colour}, mean {pixels.mean(axis=0).round()} (worst {worst})"


class Presenter:
    """A plugin whose one session shows a screen and a camera through its own context."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx


def pusher(source: QueueSource, rgb: tuple[int, int, int], size: tuple[int, int]) -> asyncio.Task[None]:
    async def run() -> None:
        image = frame(*size, rgb)
        while True:
            source.push(image)
            await asyncio.sleep(1 / 30)
    return asyncio.get_running_loop().create_task(run())


async def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)
    return value
