"""Shared helpers of the media tests: streams made with PyAV's encoders, tones and their spectrum,
pixel checks, free ports, and the Debian ``ffmpeg`` CLI as a sender (asyncio subprocesses only)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import socket
import time
import wave
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs
import av
import numpy as np

from receiver_core import MediaCaps, MediaPacket

# ------------------------------------------------------------------------------------------ video

#: codec name in ``MediaCaps`` -> (PyAV encoder, encoder options); all low-delay, no B-frames
VIDEO_ENCODERS: dict[str, tuple[str, dict[str, str]]] = {
    "h264": ("libx264", {"preset": "ultrafast", "tune": "zerolatency"}),
    "h265": ("libx265", {"preset": "ultrafast", "tune": "zerolatency", "x265-params": "log-level=none"}),
    "vp8": ("libvpx", {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}),
}


@attrs.frozen
class EncodedFrame:
    data: bytes
    pts: int
    keyframe: bool


def solid(width: int, height: int, rgb: tuple[int, int, int]) -> np.ndarray:
    image = np.empty((height, width, 3), np.uint8)
    image[:] = rgb
    return image


def moving(width: int, height: int, count: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Gradients that move every frame: P-frames carry real data (a truncated one is noticed)."""
    y, x = np.mgrid[0:height, 0:width]
    for i in range(seed, seed + count):
        image = np.empty((height, width, 3), np.uint8)
        image[..., 0] = (x * 2 + i * 8) % 256
        image[..., 1] = (y * 3 + i * 5) % 256
        image[..., 2] = ((x + y) // 4 + i * 3) % 256
        yield image


def to_yuv(image: np.ndarray) -> av.VideoFrame:
    """RGB -> yuv420p with the matrix a player assumes for an untagged stream of this size (BT.709
    above 576 lines, BT.601 below), as a well-behaved sender would encode it."""
    matrix = "ITU709" if image.shape[0] > 576 else "ITU601"
    return av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p", dst_colorspace=matrix)


def encode_video(codec: str, images: Iterable[np.ndarray], *, fps: int = 30, gop: int = 30,
                 sar: Fraction | None = None) -> list[EncodedFrame]:
    """Encode RGB images with PyAV (Annex B for H.264/H.265, in-band parameter sets)."""
    encoder, options = VIDEO_ENCODERS[codec]
    ctx: Any = None
    out: list[EncodedFrame] = []
    for index, image in enumerate(images):
        if ctx is None:
            ctx = av.CodecContext.create(encoder, "w")
            ctx.height, ctx.width = image.shape[:2]
            ctx.pix_fmt = "yuv420p"
            ctx.time_base = Fraction(1, fps)
            ctx.framerate = fps
            ctx.gop_size = gop
            if sar is not None:
                ctx.sample_aspect_ratio = sar
            ctx.options = dict(options)
            ctx.open()
        frame = to_yuv(image)
        frame.pts = index
        out += [EncodedFrame(bytes(p), p.pts, p.is_keyframe) for p in ctx.encode(frame)]
    if ctx is not None:
        out += [EncodedFrame(bytes(p), p.pts, p.is_keyframe) for p in ctx.encode(None)]
    return out


def encode_solid(codec: str, width: int, height: int, rgb: tuple[int, int, int], count: int, *,
                 gop: int = 30, sar: Fraction | None = None) -> list[EncodedFrame]:
    return encode_video(codec, (solid(width, height, rgb) for _ in range(count)), gop=gop, sar=sar)


def packet(frame: EncodedFrame, *, fps: int = 30, caps: MediaCaps | None = None, data: bytes | None = None,
           discontinuity: bool = False) -> MediaPacket:
    """A ``MediaPacket`` that arrived now."""
    return MediaPacket(frame.data if data is None else data, pts=frame.pts, time_base=Fraction(1, fps),
                       keyframe=frame.keyframe, discontinuity=discontinuity, caps=caps)


def decode_all(decoder: Any, packets: Iterable[MediaPacket]) -> list[Any]:
    frames: list[Any] = []
    for item in packets:
        frames += decoder.decode(item)
    return frames


def mean_rgb(frame: Any) -> np.ndarray:
    """Mean colour of the centre of a decoded ``av.VideoFrame``."""
    rgb = frame.to_ndarray(format="rgb24").astype(float)
    h, w = rgb.shape[:2]
    return rgb[h // 4: 3 * h // 4, w // 4: 3 * w // 4].reshape(-1, 3).mean(axis=0)


def assert_colour(actual: Any, expected: tuple[int, int, int], tolerance: float = 12, what: str = "") -> None:
    actual = np.asarray(actual, float)
    assert np.abs(actual - np.asarray(expected, float)).max() <= tolerance, \
        f"{what}: colour {actual.round().tolist()} is not {list(expected)} (+-{tolerance})"


def region_rgb(rgb: np.ndarray, x: int, y: int, width: int, height: int) -> np.ndarray:
    """Median colour of a region of an RGB composite (robust to a stray edge pixel)."""
    return np.median(rgb[y:y + height, x:x + width].reshape(-1, 3), axis=0)


# ------------------------------------------------------------------------------------------ testsrc2

#: The six vertical bars of FFmpeg's ``testsrc2`` from left to right (each 1/6 of the width).
TESTSRC2_BARS = [(255, 0, 0), (0, 255, 0), (255, 255, 0), (0, 0, 255), (255, 0, 255), (0, 255, 255)]


def bar_colours(rgb: np.ndarray, x: int, y: int, width: int, height: int) -> list[list[float]]:
    """Median colour down the centre of each ``testsrc2`` bar inside the picture at (x, y, width, height).

    Only the band from 10 % to 60 % of the height is sampled: it avoids the timestamp, the
    checkerboard, the grey square and the tile label; the moving line and dots cover a few rows
    only and the median ignores them.
    """
    out = []
    rows = np.linspace(y + 0.10 * height, y + 0.60 * height, 40).astype(int)
    for i in range(6):
        cx = int(x + (i + 0.5) * width / 6)
        cols = np.array([cx - 4, cx, cx + 4])
        samples = rgb[rows[:, None], cols[None, :]].reshape(-1, 3)
        out.append(np.median(samples, axis=0).tolist())
    return out


def bars_match(rgb: np.ndarray, x: int, y: int, width: int, height: int, tolerance: float = 40) -> bool:
    colours = bar_colours(rgb, x, y, width, height)
    return all(np.abs(np.asarray(c) - np.asarray(e)).max() <= tolerance for c, e in zip(colours, TESTSRC2_BARS))


# ------------------------------------------------------------------------------------------ audio


def tone(freq: float, rate: int, seconds: float, channels: int = 2, amplitude: float = 0.5) -> np.ndarray:
    """A sine as int16 samples of shape ``(n, channels)``."""
    t = np.arange(int(rate * seconds)) / rate
    mono = np.round(amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return np.repeat(mono[:, None], channels, axis=1)


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    """Frequency of the largest FFT peak of a 1-D signal (Hann window, DC removed)."""
    x = np.asarray(samples, float)
    x = x - x.mean()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(samples, float)))))


@attrs.frozen
class EncodedAudio:
    packets: list[tuple[bytes, int]]
    extradata: bytes | None
    frame_size: int


def encode_audio(encoder: str, pcm: np.ndarray, rate: int, sample_format: str) -> EncodedAudio:
    """Encode int16 ``(n, channels)`` samples with a PyAV audio encoder."""
    layout = {1: "mono", 2: "stereo", 6: "5.1"}[pcm.shape[1]]
    ctx: Any = av.CodecContext.create(encoder, "w")
    ctx.sample_rate = rate
    ctx.layout = layout
    ctx.format = sample_format
    ctx.time_base = Fraction(1, rate)
    ctx.open()
    size = ctx.frame_size or 1024
    resampler = av.AudioResampler(format=sample_format, layout=layout, rate=rate)
    packets: list[tuple[bytes, int]] = []
    for start in range(0, len(pcm) - size + 1, size):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[start:start + size]).reshape(1, -1),
                                           format="s16", layout=layout)
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        for converted in resampler.resample(frame):
            packets += [(bytes(p), p.pts) for p in ctx.encode(converted)]
    packets += [(bytes(p), p.pts) for p in ctx.encode(None)]
    return EncodedAudio(packets, bytes(ctx.extradata) if ctx.extradata else None, size)


def audio_samples(frames: Iterable[Any]) -> np.ndarray:
    """Decoded ``av.AudioFrame``s as float samples of shape ``(channels, n)``."""
    arrays = []
    for frame in frames:
        data = frame.to_ndarray()
        if not frame.format.is_planar:
            data = data.reshape(-1, len(frame.layout.channels)).T
        arrays.append(data.astype(float))
    return np.concatenate(arrays, axis=1)


def read_wav(path: Path) -> tuple[np.ndarray, int, int]:
    """int16 samples ``(n, channels)``, rate and channels of a WAV file."""
    with wave.open(str(path), "rb") as wav:
        channels, rate = wav.getnchannels(), wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    return data.reshape(-1, channels), rate, channels


# ------------------------------------------------------------------------------------------ waiting


async def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.05, what: str = "") -> Any:
    """Poll ``predicate`` without blocking the loop; its first truthy value, or an AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(interval)


# ------------------------------------------------------------------------------------------ network and ffmpeg


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mpegts_entry_point() -> importlib.metadata.EntryPoint:
    return next(e for e in importlib.metadata.entry_points(group="receiver_core.plugins") if e.name == "mpegts")


def mpegts_config(port: int, **plugin: Any) -> dict[str, Any]:
    return {"display": {"backend": "headless"}, "plugins": {"enabled": ["mpegts"]},
            "plugin": {"mpegts": {"port": port, **plugin}}}


def udp_url(port: int) -> str:
    return f"udp://127.0.0.1:{port}?pkt_size=1316"


@contextlib.asynccontextmanager
async def process(*argv: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """Any sender process for the duration of the block (killed at the end if still running).

    If it failed by itself, its error output is raised with the block's own failure."""
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        yield proc
    finally:
        killed = proc.returncode is None
        if killed:
            proc.kill()
        _out, err = await proc.communicate()
        if not killed and proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}): {err.decode(errors='replace')}")


def ffmpeg_sender(*args: str) -> contextlib.AbstractAsyncContextManager[asyncio.subprocess.Process]:
    """An ffmpeg CLI process that runs while the block runs (killed at the end if still sending)."""
    return process("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", *args)


async def wait_exit(proc: asyncio.subprocess.Process, timeout: float) -> int:
    return await asyncio.wait_for(proc.wait(), timeout)


def sessions_of(rx: Any, protocol: str | None = None) -> list[dict[str, Any]]:
    return [s for s in rx.status()["sessions"] if protocol is None or s["protocol"] == protocol]


def plugin_status(rx: Any, name: str) -> dict[str, Any]:
    return next(p["status"] for p in rx.plugin_status() if p["name"] == name)
