"""Streams for the MPEG-TS unit tests, made in-process with PyAV's muxer (libavformat, a real muxer
we did not write), plus a capture from gnome-network-displays (a real Miracast source)."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
GND_CAPTURE = DATA / "ts-gnd-0.90.5-h264-cbp-1080p30-aac.ts"


def make_ts(*, codec: str = "libx264", frames: int = 45, width: int = 320, height: int = 240,
            audio: bool = True, options: dict[str, str] | None = None, gop: int = 15) -> bytes:
    """A transport stream of moving gradients (and a 440 Hz tone) from PyAV's encoders and muxer."""
    out = io.BytesIO()
    with av.open(out, "w", format="mpegts", options=options or {}) as container:
        video = container.add_stream(codec, rate=30)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            video.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(gop), "bf": "0"}
        else:
            video.options = {"preset": "ultrafast", "x265-params": f"keyint={gop}:bframes=0:log-level=error"}
        sound = container.add_stream("aac", rate=48000) if audio else None
        if sound is not None:
            sound.layout = "stereo"
        y = np.arange(height, dtype=np.int32)[:, None]
        x = np.arange(width, dtype=np.int32)[None, :]
        for index in range(frames):
            shape = (height, width)
            rgb = np.stack([np.broadcast_to((x + 4 * index) % 256, shape), np.broadcast_to((y + 2 * index) % 256, shape),
                            np.full(shape, (37 * index) % 256)], axis=-1).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            samples = int(48000 * frames / 30)
            t = np.arange(samples) / 48000
            tone = (0.25 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, samples - 1024, 1024):
                chunk = np.stack([tone[start:start + 1024]] * 2)
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate, frame.pts, frame.time_base = 48000, start, Fraction(1, 48000)
                for packet in sound.encode(frame):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
    return out.getvalue()


def reference_packets(ts: bytes) -> dict[str, list[tuple[bytes, int | None, bool]]]:
    """What libavformat's own demuxer (with its parsers) makes of ``ts``: (data, pts, keyframe) per kind."""
    found: dict[str, list[tuple[bytes, int | None, bool]]] = {"video": [], "audio": []}
    with av.open(io.BytesIO(ts), format="mpegts") as container:
        for packet in container.demux():
            if packet.size:
                found[packet.stream.type].append((bytes(packet), packet.pts, packet.is_keyframe))
    return found


@pytest.fixture(scope="session")
def h264_ts() -> bytes:
    return make_ts()


@pytest.fixture(scope="session")
def gnd_ts() -> bytes:
    return GND_CAPTURE.read_bytes()


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def feed_all(receiver: Any, datagrams: list[bytes]) -> list[Any]:
    events: list[Any] = []
    for index, datagram in enumerate(datagrams):
        events += receiver.feed(datagram, float(index))
    return events
