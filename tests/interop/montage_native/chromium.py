"""Debian's Chromium driven by Playwright (no browser download) as the real WebRTC sender.

Flags from docs/native.md and the protocol notes: a fresh profile, no background networking
(the machine has no network besides loopback), loopback allowed in peer connections, and the fake
capture devices so ``getDisplayMedia`` works headless without a picker.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream=fps=30,display-media-type=monitor",
]


def require_chromium() -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} missing: scripts/test installs the Debian 'chromium' package")


@contextlib.asynccontextmanager
async def chromium(home: str | None = None, extra_args: tuple[str, ...] = ()) -> AsyncIterator[Any]:
    """A headless persistent Chromium context that ignores the box's self-signed certificate (the
    page's only: Playwright's ``ignore_https_errors``); ``home`` = the HOME it runs with (its NSS
    database decides which other certificates, e.g. a TURN server's, it trusts); ``extra_args`` are
    more Chromium flags (``fake_camera``'s)."""
    require_chromium()
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.async_api import async_playwright

    profile = tempfile.mkdtemp(prefix="montage-chromium-")
    try:
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=[*FLAGS, *extra_args], ignore_https_errors=True,
                env={**os.environ, "HOME": home} if home else None)
            try:
                yield context
            finally:
                await context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


async def join(page: Any, url: str, meeting_id: str, pin: str | None, name: str) -> None:
    """Fill the join form like a person and press "Share screen"."""
    await page.goto(url)
    await page.fill("#meeting", meeting_id)
    if pin is not None:
        await page.fill("#pin", pin)
    await page.fill("#name", name)
    await page.click("#share")


async def page_state(page: Any) -> dict[str, Any]:
    return await page.evaluate("() => Object.assign({}, window.__state, {message: document.getElementById('message').textContent})")


def _bt601(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = rgb
    return (round(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255),
            round(128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255),
            round(128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255))


def fake_camera(path: Path, left: tuple[int, int, int], right: tuple[int, int, int],
                width: int = 640, height: int = 480) -> str:
    """A Y4M clip, its left half ``left`` and its right half ``right`` (BT.601 limited range, what
    Chromium's file capture plays); returns the Chromium flag that makes it the fake camera. The fake
    screen (``getDisplayMedia``) keeps Chromium's green test pattern."""
    (y1, u1, v1), (y2, u2, v2) = _bt601(left), _bt601(right)
    half, chroma_half = width // 2, width // 4

    def plane(a: int, b: int, row_half: int, rows: int) -> bytes:
        return (bytes([a]) * row_half + bytes([b]) * row_half) * rows

    frame = (b"FRAME\n" + plane(y1, y2, half, height) + plane(u1, u2, chroma_half, height // 2)
             + plane(v1, v2, chroma_half, height // 2))
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode() + frame * 30)
    return f"--use-file-for-fake-video-capture={path}"
