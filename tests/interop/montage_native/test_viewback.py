"""View-back with Debian Chromium: the room's composite, encoded by the box (aiortc), arrives in the
page's <video>; the pixels the page draws from it match the box's own composite; max_viewers holds;
a box with view-back off shows no trace of it in the page."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from receiver_plugins.montage_native.viewback import FPS, HEIGHT, WIDTH

from .chromium import chromium, page_state
from .conftest import PIN
from .test_chromium import wait_for

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(150)]

GRID = (16, 9)

#: the page draws the <video>'s current frame on a canvas and returns its pixels (RGBA, 160x90)
ROOM_FRAME = """() => {
  const v = document.getElementById('room-video');
  if (!v || !v.videoWidth || v.readyState < 2) return null;
  const c = document.createElement('canvas'); c.width = 160; c.height = 90;
  const g = c.getContext('2d'); g.drawImage(v, 0, 0, 160, 90);
  return {width: v.videoWidth, height: v.videoHeight, frames: v.getVideoPlaybackQuality().totalVideoFrames,
          pixels: Array.from(g.getImageData(0, 0, 160, 90).data)};
}"""


async def share(page: Any, url: str, meeting_id: str, name: str, *, watch: bool) -> None:
    await page.goto(url)
    await page.fill("#meeting", meeting_id)
    await page.fill("#pin", PIN)
    await page.fill("#name", name)
    if watch:
        await wait_for(lambda: page.is_visible("#viewback-choice"), 10, "the view-back choice")
        await page.check("#viewback")
    await page.click("#share")


def luma_grid(rgb: np.ndarray) -> np.ndarray:
    """Mean luma of 16x9 cells of an RGB image of 160x90."""
    y = rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722
    return y.reshape(GRID[1], y.shape[0] // GRID[1], GRID[0], y.shape[1] // GRID[0]).mean(axis=(1, 3))


async def test_the_page_shows_the_room_and_max_viewers_holds(native_box: Callable[..., Any]) -> None:
    async with native_box(max_viewers=1) as box, chromium() as browser:
        viewer, second = await browser.new_page(), await browser.new_page()
        await share(viewer, box.url("quality=360"), box.meeting_id, "Viewer", watch=True)
        first = await wait_for(lambda: viewer.evaluate(ROOM_FRAME), 30, "the room's screen in the page")
        assert (first["width"], first["height"]) == (1280, 720)
        await wait_for(lambda: [s for s in box.video_stats() if s.decoded > 0], 15, "the page's screen on the box")
        await asyncio.sleep(2.0)  # the composite now shows the page's own (fake) screen
        # the page's frame and the box's composite, taken close together, show the same picture
        reader = box.rx.display.watch(WIDTH, HEIGHT, FPS)
        try:
            await reader.next()  # the latest one may be older than the page's
            frame = await asyncio.wait_for(reader.next(), 5)
            composite = frame.reformat(width=160, height=90, format="rgb24").to_ndarray().astype(float)
        finally:
            reader.close()
        start = await viewer.evaluate(ROOM_FRAME)
        started = time.monotonic()
        page_rgb = np.array(start["pixels"], float).reshape(90, 160, 4)[..., :3]
        page_grid, box_grid = luma_grid(page_rgb), luma_grid(composite)
        correlation = float(np.corrcoef(page_grid.ravel(), box_grid.ravel())[0, 1])
        await asyncio.sleep(3.0)
        end = await viewer.evaluate(ROOM_FRAME)
        fps = (end["frames"] - start["frames"]) / (time.monotonic() - started)
        status = box.web.status()["view_back"]
        print(f"view-back: {fps:.1f} fps in the page, luma mean {page_grid.mean():.0f} (box {box_grid.mean():.0f}), "
              f"grid correlation {correlation:.3f}, {status}")
        assert page_grid.std() > 5 and page_grid.max() > 60, "the page's room video is flat or black"
        assert correlation > 0.8, f"the page's picture does not match the box's composite ({correlation:.3f})"
        assert abs(page_grid.mean() - box_grid.mean()) < 25
        assert fps >= 5, f"{fps:.1f} view-back frames/s in the page (up to 15)"
        assert status["viewers"] == 1
        # a second page asks too: max_viewers=1, so it is told, and its video stays empty
        await share(second, box.url("quality=360"), box.meeting_id, "Second", watch=True)
        state = await wait_for(lambda: _view_back(second, "full"), 30, "the second page to be told")
        assert "Too many people are watching" in await second.text_content("#room-state")
        assert await second.evaluate(ROOM_FRAME) is None
        assert box.web.status()["view_back"]["viewers"] == 1 and box.web.status()["view_back"]["refused"] == 1
        assert state["phase"] in ("connecting", "sharing")
        # the viewer leaves: its slot is free again and the display tap stops
        await viewer.click("#stop")
        await wait_for(lambda: box.web.status()["view_back"]["viewers"] == 0, 15, "the viewer's slot to be freed")
        await wait_for(lambda: box.rx.display.taps.active == (), 5, "the display tap to stop")


async def test_view_back_off_is_not_on_the_page(native_box: Callable[..., Any]) -> None:
    async with native_box(view_back=False) as box, chromium() as browser:
        page = await browser.new_page()
        await page.goto(box.url())
        await page.wait_for_load_state("networkidle")
        assert not await page.is_visible("#viewback-choice")
        assert not await page.is_visible("#room-video")


async def _view_back(page: Any, wanted: str) -> dict[str, Any] | None:
    state = await page_state(page)
    return state if state.get("viewBack") == wanted else None
