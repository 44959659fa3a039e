"""The idle screen as a person sees it: rendered by the headless and the SDL window backends, the QR
code read back with a real decoder (zxing-cpp), the text read back with a real OCR (tesseract)."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from receiver_core import Overlay, OverlayKind, SessionRequest, hookimpl
from receiver_core.display.headless import i420_to_rgb
from receiver_core.testing import FakeNet

pytestmark = pytest.mark.display

JOIN = "https://192.0.2.10:8443/join"


class BrowserJoin:
    """Plays the browser-sharing plugin's part: a connect line and the QR code of the join URL."""

    @hookimpl
    def receiver_overlays(self, ctx: Any, screen: Any, state: Any) -> list[Overlay]:
        return [Overlay(OverlayKind.CONNECT, text="Browser: https://192.0.2.10:8443/"),
                Overlay(OverlayKind.QR, text="Scan to share", data=f"{JOIN}?meeting={state.meeting_id}")]


def ocr(rgb: np.ndarray, tmp_path: Path) -> str:
    """The screen's text as tesseract reads it (spaces removed)."""
    assert shutil.which("tesseract"), "tesseract-ocr must be installed (scripts/test installs it)"
    path = tmp_path / "screen.png"
    Image.fromarray(rgb).save(path)
    text = subprocess.run(["tesseract", str(path), "stdout"], capture_output=True, text=True, check=True).stdout
    return re.sub(r"\s+", "", text)


def read_pin(rgb: np.ndarray, tmp_path: Path) -> str:
    """The big yellow number, read as a person reads a PIN: find it, then read digits.

    The crop around the yellow pixels is scaled to about 40-pixel digits, the size tesseract reads
    best: none of 300 random PINs (1080p and 720p) was misread; at full size about 1 in 150 was.
    """
    yellow = (rgb[..., 0] > 200) & (rgb[..., 1] > 150) & (rgb[..., 1] < 235) & (rgb[..., 2] < 130)
    rows, cols = np.nonzero(yellow)
    assert rows.size > 500, "no PIN on screen"
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    margin = (bottom - top) // 2
    crop = Image.fromarray(rgb[max(0, top - margin):bottom + margin, max(0, left - margin):right + margin])
    scale = 40 / (bottom - top)
    crop = crop.resize((round(crop.width * scale), round(crop.height * scale)), Image.LANCZOS)
    path = tmp_path / "pin.png"
    crop.save(path)
    text = subprocess.run(["tesseract", str(path), "stdout", "--psm", "7", "-c", "tessedit_char_whitelist=0123456789"],
                          capture_output=True, text=True, check=True).stdout
    return re.sub(r"\s+", "", text)


def qr_texts(rgb: np.ndarray) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(rgb) if r.format == zxingcpp.BarcodeFormat.QRCode]


async def shown(rx: Any, check: Any = lambda rgb: True, timeout: float = 8.0) -> np.ndarray:
    """The screen once ``check(rgb)`` holds (polled as a person would look again)."""
    rgb = None
    for _ in range(int(timeout / 0.25)):
        rgb = rx.display.backend.latest_rgb()
        if rgb is not None and check(rgb):
            return rgb
        await asyncio.sleep(0.25)
    raise AssertionError("the screen never showed what was expected")


async def test_headless_idle_screen_shows_qr_and_pin(receiver_factory: Any, tmp_path: Path) -> None:
    config = {"display": {"backend": "headless", "snapshot_dir": str(tmp_path / "snap")},
              "session": {"pin_mode": "fixed", "pin": "4821"}}
    async with receiver_factory(plugins={"join": BrowserJoin()}, config=config) as rx:
        rgb = await shown(rx)
        assert rgb.shape == (1080, 1920, 3)
        assert qr_texts(rgb) == [f"{JOIN}?meeting={rx.sessions.meeting.current}"]
        text = ocr(rgb, tmp_path)
        assert "TestRoom" in text and "192.0.2.10" in text
        assert read_pin(rgb, tmp_path) == "4821"
        assert (tmp_path / "snap" / "idle.png").exists()


async def test_idle_screen_follows_pin_meeting_and_network(receiver_factory: Any, tmp_path: Path) -> None:
    net = FakeNet.single("eth0", "192.0.2.10")
    config = {"display": {"backend": "headless"}, "session": {"pin_mode": "rotating", "pin_length": 6}}
    async with receiver_factory(plugins={"join": BrowserJoin()}, config=config, net=net) as rx:
        rgb = await shown(rx)
        first_pin, first_meeting = rx.sessions.pin.current(), rx.sessions.meeting.current
        assert read_pin(rgb, tmp_path) == first_pin

        rx.sessions.pin.rotate()
        rgb = await shown(rx, lambda rgb: read_pin(rgb, tmp_path) == rx.sessions.pin.current())
        assert read_pin(rgb, tmp_path) != first_pin

        session = await rx.sessions.request(SessionRequest("test", "192.0.2.5", "Alice",
                                                           pin=rx.sessions.pin.current()))
        await rx.sessions.end(session)  # the room goes idle: new meeting, new PIN
        assert rx.sessions.meeting.current != first_meeting
        await shown(rx, lambda rgb: qr_texts(rgb) == [f"{JOIN}?meeting={rx.sessions.meeting.current}"])

        net.set_addresses("eth0", "198.51.100.23/24")
        await net.apply()
        rgb = await shown(rx, lambda rgb: "198.51.100.23" in ocr(rgb, tmp_path))
        assert "192.0.2.10" not in ocr(rgb, tmp_path).replace("https://192.0.2.10", "")


async def test_window_backend_under_sdl_offscreen(receiver_factory: Any, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "offscreen")
    config = {"display": {"backend": "window", "fullscreen": False, "width": 1280, "height": 720},
              "session": {"pin_mode": "fixed", "pin": "7305"}}
    async with receiver_factory(plugins={"join": BrowserJoin()}, config=config) as rx:
        window = rx.display.backend
        assert window.name == "window" and rx.display.open_error is None
        assert window.status()["driver"] == "offscreen"
        rgb = await asyncio.get_running_loop().run_in_executor(None, window.capture, 5.0)
        assert rgb is not None and rgb.shape == (720, 1280, 3)
        assert qr_texts(rgb) == [f"{JOIN}?meeting={rx.sessions.meeting.current}"]
        assert read_pin(rgb, tmp_path) == "7305"
        # SDL converts the composite with BT.709 like libswscale does for snapshots: on the yellow
        # PIN the two agree (with BT.601 they would differ by about 22 levels summed over R, G, B)
        reference = i420_to_rgb(rx.display._idle, 1280, 720).astype(int)
        yellow = (reference[..., 0] > 200) & (reference[..., 2] < 100)
        assert yellow.sum() > 1000
        assert np.abs(rgb.astype(int) - reference)[yellow].mean(axis=0).sum() < 15
