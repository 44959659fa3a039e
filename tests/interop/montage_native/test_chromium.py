"""Headless Debian Chromium shares its (fake-capture) screen to the box over HTTPS + WebRTC."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

import pytest

from .chromium import chromium, join, page_state
from .conftest import PIN

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(120)]


async def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_chromium_shares_720p_at_25fps(native_box: Callable[..., Any]) -> None:
    async with native_box() as box, chromium() as browser:
        page = await browser.new_page()
        await join(page, box.url(), box.meeting_id, PIN, "Chromium")
        clicked = time.monotonic()
        stats = (await wait_for(lambda: [s for s in box.video_stats() if s.decoded > 0], 15, "a decoded frame"))[0]
        first_frame = time.monotonic() - clicked
        start_count, start = stats.decoded, time.monotonic()
        await asyncio.sleep(3.0)
        fps = (stats.decoded - start_count) / (time.monotonic() - start)
        state = await page_state(page)
        print(f"first frame {first_frame:.2f} s, {fps:.1f} fps, {stats.size}, decoder {stats.decoder}")
        session = box.rx.sessions.all()[0]
        assert session.protocol == "montage_native" and session.request.display_name == "Chromium"
        assert state["phase"] == "sharing" and state["connection"] == "connected"
        assert stats.size.startswith("1280x720"), stats.size
        assert first_frame < 5.0, f"first frame after {first_frame:.2f} s"
        assert fps >= 25, f"{fps:.1f} fps"
        # the page's stop button ends the session in the core
        await page.click("#stop")
        await wait_for(lambda: not box.rx.sessions.all(), 10, "the session to end")


async def test_wrong_pin_is_refused_with_a_message(native_box: Callable[..., Any]) -> None:
    async with native_box() as box, chromium() as browser:
        page = await browser.new_page()
        await join(page, box.url(), box.meeting_id, "0000" if PIN != "0000" else "1111", "Wrong")
        state = await wait_for(lambda: _error(page), 15, "the page's error")
        assert state["error"] == "wrong-pin"
        assert "Wrong PIN" in state["message"]
        assert not box.rx.sessions.all()
        assert box.web.counters["refused"] == 1


async def _error(page: Any) -> dict[str, Any] | None:
    state = await page_state(page)
    return state if state.get("error") else None
