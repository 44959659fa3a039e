"""The example plugin tested the way a third-party author would: only ``receiver_core.testing``'s
fixtures, the plugin loaded through its installed entry point, a stream made with PyAV."""

from __future__ import annotations

import asyncio
import io
import socket
from typing import Any

import av
import numpy as np

CONFIG = {"plugin": {"mpegts": {"port": 0, "allowed_senders": ["127.0.0.0/8"]}}}


def transport_stream(frames: int = 45) -> bytes:
    """A small H.264 MPEG-TS, as a sender would push it."""
    out = io.BytesIO()
    with av.open(out, "w", format="mpegts") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"tune": "zerolatency", "g": "15"}
        for i in range(frames):
            rgb = np.full((240, 320, 3), (i * 5) % 255, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


async def test_idle_screen_line_and_status(receiver_factory: Any) -> None:
    async with receiver_factory(installed=["mpegts"], config=CONFIG) as rx:
        port = rx.plugins.contexts["mpegts"].listener_port("udp")
        assert f"MPEG-TS / RTP:  udp://192.0.2.10:{port}" in {o.text for o in rx.display.collect_overlays()}
        mpegts = next(p for p in rx.status()["plugins"] if p["name"] == "mpegts")
        assert mpegts["state"] == "running" and mpegts["status"]["senders"] == []


async def test_a_pushed_stream_becomes_a_decoded_session(receiver_factory: Any) -> None:
    data = transport_stream()
    async with receiver_factory(installed=["mpegts"], config=CONFIG) as rx:
        port = rx.plugins.contexts["mpegts"].listener_port("udp")
        sessions: list[dict[str, Any]] = []
        video: dict[str, Any] = {}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(20):  # a sender streams until stopped: resend the clip, then look
                for offset in range(0, len(data), 1316):
                    sock.sendto(data[offset:offset + 1316], ("127.0.0.1", port))
                    await asyncio.sleep(0.002)
                sessions = rx.status()["sessions"]
                video = sessions[0].get("media", {}).get("video", {}) if sessions else {}
                if video.get("decoded", 0) >= 30:
                    break
        assert sessions and sessions[0]["protocol"] == "mpegts"
        assert video["caps"].startswith("video/h264") and video["decoded"] >= 30 and video["corrupt"] == 0
        for _ in range(100):  # the sender stopped: the session ends after the idle timeout
            if not rx.status()["sessions"]:
                break
            await asyncio.sleep(0.1)
        assert rx.status()["sessions"] == []
