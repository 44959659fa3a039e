"""Display taps (``ctx.display.watch``): the room's composite, scaled once per tap and shared
between readers, rate-limited, and nothing done while nobody watches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
import numpy as np
import pytest

from receiver_core import MediaCaps, PluginContext, QueueSource, SessionRequest, hookimpl
from receiver_core.display.tap import TAP_TIME_BASE, tap_size

pytestmark = pytest.mark.display


class Watcher:
    """A plugin that watches the composite through its context."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    @hookimpl
    async def receiver_startup(self) -> None:
        """Nothing to start."""


async def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)
    return value


def planes(frame: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.frombuffer(frame.planes[0], np.uint8).reshape(-1, frame.planes[0].line_size)[:frame.height, :frame.width]
    u = np.frombuffer(frame.planes[1], np.uint8).reshape(-1, frame.planes[1].line_size)[:frame.height // 2,
                                                                                         :frame.width // 2]
    return y, u


def solid(width: int, height: int, y: int, u: int, v: int, pts: int) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane, value in zip(frame.planes, (y, u, v), strict=True):
        plane.update(bytes([value]) * plane.buffer_size)
    frame.pts, frame.time_base = pts, Fraction(1, 30)
    return frame


def test_tap_size_keeps_the_screen_aspect_and_never_upscales() -> None:
    assert tap_size(1920, 1080, 1280, 720) == (1280, 720)
    assert tap_size(1920, 1200, 1280, 720) == (1152, 720)
    assert tap_size(1280, 720, 1920, 1080) == (1280, 720)
    assert tap_size(1921, 1081, 641, 641) == (640, 360)


async def test_an_idle_box_is_watched_at_720p_and_readers_share_one_scaled_frame(receiver_factory: Any) -> None:
    async with receiver_factory(plugins={"watcher": Watcher}) as rx:
        display = rx.display
        assert display.taps.active == ()  # nobody watches: the display thread has nothing to feed
        ctx = rx.plugins.get_plugin("watcher").ctx
        first, second = ctx.display.watch(1280, 720, 15), ctx.display.watch(1280, 720, 15)
        assert len(display.taps.active) == 1  # same size and rate: one tap
        frame_a = await asyncio.wait_for(first.next(), 5)  # the idle screen, offered at once
        frame_b = await asyncio.wait_for(second.next(), 5)
        assert frame_a is frame_b  # scaled once, shared
        assert (frame_a.width, frame_a.height, frame_a.format.name) == (1280, 720, "yuv420p")
        assert frame_a.time_base == TAP_TIME_BASE and frame_a.pts is not None
        y, _u = planes(frame_a)
        assert y.std() > 5 and y.max() > 150  # the idle screen's text and QR code, not a black frame
        tap = display.taps.active[0]
        assert tap.status()["readers"] == 2 and tap.frames == 1
        slow = ctx.display.watch(640, 360, 0.05)  # one frame per 20 s: after the first, next() waits
        await asyncio.wait_for(slow.next(), 5)
        waiting = asyncio.create_task(slow.next())
        await asyncio.sleep(0.1)
        assert not waiting.done()
        slow.close()  # closing a reader ends its waiting next() at once
        with pytest.raises(EOFError):
            await asyncio.wait_for(waiting, 1)
        first.close()
        assert len(display.taps.active) == 1
        second.close()
        assert display.taps.active == () and tap.latest is None  # the last reader left: no frame kept
        with pytest.raises(EOFError):
            await second.next()
        with pytest.raises(ValueError):
            ctx.display.watch(8, 8, 15)
        with pytest.raises(ValueError):
            ctx.display.watch(1280, 720, 0)


async def test_a_session_is_watched_rate_limited_and_unload_closes_readers(receiver_factory: Any) -> None:
    async with receiver_factory(plugins={"watcher": Watcher}) as rx:
        ctx = rx.plugins.get_plugin("watcher").ctx
        session = await rx.sessions.request(SessionRequest("test", "192.0.2.9", "Red"))
        source = QueueSource(MediaCaps.video("raw"), maxsize=4)
        await rx.media.attach(session, source)
        reader = ctx.display.watch(640, 360, 10)
        assert reader.size == (640, 360)

        async def feed() -> None:
            for n in range(10_000):
                source.push(solid(1280, 720, 82, 90, 240, n))  # BT.709 red (HD: taken as BT.709)
                await asyncio.sleep(1 / 30)

        feeder = asyncio.create_task(feed())
        try:
            await wait_for(lambda: rx.display.composite_fps() > 10, 10, "the session on the composite")
            frames = []
            started = time.monotonic()
            while time.monotonic() - started < 2.0:
                frames.append(await asyncio.wait_for(reader.next(), 3))
            rate = len(frames) / (time.monotonic() - started)
            assert 5 <= rate <= 11.5, f"{rate:.1f} frames/s from a 10 fps tap fed with ~30 composites/s"
            pts = [f.pts for f in frames]
            assert pts == sorted(pts) and len(set(pts)) == len(pts)
            y, u = planes(frames[-1])
            assert abs(float(np.median(y)) - 82) < 6 and abs(float(np.median(u)) - 90) < 6  # the red tile
        finally:
            feeder.cancel()
        # the plugin fails and is retired: its unload closes its readers and the tap stops working
        ctx.run_as(_crash)
        await wait_for(lambda: reader.closed, 5, "the retired plugin's reader to close")
        assert rx.display.taps.active == ()


def _crash() -> None:
    raise RuntimeError("the watcher fails")
