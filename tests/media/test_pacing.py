"""Composites follow the sources' frames (``receiver_core.display.pacing``): four 30 fps sessions on
a box whose display may compose 60 times a second get about 30 composites a second, each with a
frame of every session, not one composite per frame. Load-sensitive: generous bounds."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from .helpers import encode_video, moving
from .test_pipeline import present, settle

pytestmark = pytest.mark.media

SECONDS = 4.0


async def test_four_30fps_sessions_are_composed_at_their_rate_not_per_frame(receiver_factory: Any) -> None:
    config = {"display": {"backend": "headless", "labels": False, "fps": 60}}
    async with receiver_factory(config=config) as rx:
        frames = encode_video("h264", moving(320, 180, int(SECONDS * 30) + 30), gop=30)
        presenters = [await present(rx, peer=f"192.0.2.{10 + k}", name=f"P{k}") for k in range(4)]
        await asyncio.gather(*(p.feed(frames[:15]) for p in presenters))  # warm up: decoders open
        for p in presenters:
            await settle(p, 10)
        backend = rx.display.backend
        shown0 = [p.stats.shown for p in presenters]
        decoded0 = [p.stats.decoded for p in presenters]
        composites0, started = backend.frames, time.monotonic()
        async def staggered(k: int) -> None:  # the senders' frames do not arrive together
            await asyncio.sleep(k * 0.008)
            await presenters[k].feed(frames[15:])

        await asyncio.gather(*(staggered(k) for k in range(4)))
        seconds = time.monotonic() - started
        await asyncio.sleep(0.2)
        composites = (backend.frames - composites0) / seconds
        decoded = sum(p.stats.decoded for p in presenters) - sum(decoded0)
        shown = sum(p.stats.shown for p in presenters) - sum(shown0)
        fed = 4 * (len(frames) - 15) / seconds
        assert decoded > 0.5 * fed * seconds, (decoded, fed)
        # one composite per frame of each session would be ~120 a second (capped at 60)
        assert composites < 40, f"{composites:.1f} composites/s for four 30 fps sessions"
        assert shown >= 0.9 * decoded, f"{decoded - shown} of {decoded} decoded frames never shown"
