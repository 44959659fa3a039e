"""The media pipeline under bad input, driven directly: a test session, a ``QueueSource`` and packets
made here with PyAV's encoders. The composite is read back from the headless display."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from receiver_core import MediaCaps, MediaPacket, QueueSource, SessionRequest, hookimpl
from receiver_core.media import pipeline
from receiver_core.media.decoders import RANK_PRIMARY, DecoderSpec
from receiver_core.media.engine import VIDEO_MAX_LATE, VIDEO_QUEUE
from receiver_core.media.pipeline import Link

from .helpers import (
    EncodedFrame,
    assert_colour,
    encode_audio,
    encode_solid,
    encode_video,
    moving,
    packet,
    region_rgb,
    tone,
    wait_for,
)

pytestmark = pytest.mark.media

H264 = MediaCaps.video("h264")
RED, GREEN, BLUE = (220, 40, 50), (40, 200, 60), (30, 60, 210)
FPS = 30
BOX = {"display": {"backend": "headless", "labels": False}}


@contextlib.asynccontextmanager
async def box(receiver_factory: Any) -> AsyncIterator[Any]:
    async with receiver_factory(config=BOX) as rx:
        yield rx


class Presenter:
    """A test session with one source, and a record of the keyframe requests it received."""

    def __init__(self, session: Any, source: QueueSource, link: Link, requests: list[float]) -> None:
        self.session = session
        self.source = source
        self.link = link
        self.requests = requests  # when the source was asked for a keyframe

    @property
    def stats(self) -> Any:
        return self.link.stats

    async def feed(self, frames: Iterable[EncodedFrame | MediaPacket], fps: float = FPS) -> None:
        """Push at the sender's pace (a ``MediaPacket`` as is, an ``EncodedFrame`` arriving now)."""
        for item in frames:
            self.source.push(item if isinstance(item, MediaPacket) else packet(item))
            await asyncio.sleep(1 / fps)


async def present(rx: Any, caps: MediaCaps = H264, *, peer: str = "192.0.2.9", name: str = "T",
                  maxsize: int = 60) -> Presenter:
    session = await rx.sessions.request(SessionRequest("test", peer, name))
    requests: list[float] = []
    source = QueueSource(caps, maxsize=maxsize, on_keyframe_request=lambda: requests.append(time.monotonic()))
    link = await rx.media.attach(session, source)
    return Presenter(session, source, link, requests)


async def composite(rx: Any, after: int | None = None) -> np.ndarray:
    """The RGB composite (once the display has presented a frame newer than ``after``)."""
    backend = rx.display.backend
    if after is not None:
        await wait_for(lambda: backend.generation > after, 3, what="a new composite")
    rgb = await asyncio.get_running_loop().run_in_executor(None, backend.latest_rgb)
    assert rgb is not None
    return rgb


async def settle(presenter: Presenter, decoded: int, timeout: float = 5) -> None:
    await wait_for(lambda: presenter.stats.decoded >= decoded, timeout, what=f"{decoded} decoded frames")


def renumber(frames: list[EncodedFrame], start: int = 0) -> list[EncodedFrame]:
    return [EncodedFrame(f.data, start + i, f.keyframe) for i, f in enumerate(frames)]


# ------------------------------------------------------------------------------------------ corruption


async def test_truncated_access_unit_is_dropped_counted_and_the_stream_recovers(receiver_factory: Any) -> None:
    frames = encode_video("h264", moving(320, 240, 60), gop=30)
    assert [i for i, f in enumerate(frames) if f.keyframe] == [0, 30]
    async with box(receiver_factory) as rx:
        p = await present(rx)
        await asyncio.sleep(pipeline.KEYFRAME_REQUEST_INTERVAL)  # let the start-up request age
        await p.feed(frames[:10])
        await settle(p, 10)
        requests_before = len(p.requests)
        broken = frames[10]
        await p.feed([packet(broken, data=broken.data[: len(broken.data) // 2])])
        await wait_for(lambda: p.stats.corrupt >= 1, 3, what="the corrupt frame to be counted")
        await p.feed(frames[11:])
        await settle(p, 40)
        await asyncio.sleep(0.2)
        stats = p.stats.status()
        assert stats["corrupt"] == 1
        # frames 11..29 depend on the broken one: skipped until the keyframe at 30
        assert stats["decoded"] == 10 + 30
        assert stats["dropped"] >= 19
        assert len(p.requests) > requests_before, "no keyframe was requested after the corrupt frame"
        assert p.source.keyframe_requests == len(p.requests)
        assert p.session.visible and p.session.state.value == "active"
        assert stats["error"] is None


async def test_discontinuity_waits_for_a_keyframe_and_asks_the_source(receiver_factory: Any) -> None:
    frames = renumber(encode_solid("h264", 320, 240, RED, 20, gop=10) +
                      encode_solid("h264", 320, 240, BLUE, 20, gop=10))
    keyframes = [i for i, f in enumerate(frames) if f.keyframe]
    assert keyframes == [0, 10, 20, 30]
    async with box(receiver_factory) as rx:
        p = await present(rx)
        await asyncio.sleep(pipeline.KEYFRAME_REQUEST_INTERVAL)
        await p.feed(frames[:5])
        await settle(p, 5)
        before = len(p.requests)
        # frames 5..19 lost; frame 20 (a keyframe) would be fine, so lose up to 22 and flag 23
        await p.feed([packet(frames[23], discontinuity=True)] + frames[24:])
        await settle(p, 5 + 10)
        await asyncio.sleep(0.2)
        assert p.stats.decoded == 5 + 10  # 23..29 skipped, 30..39 decoded
        assert len(p.requests) > before
        rgb = await composite(rx)
        assert_colour(region_rgb(rgb, 900, 500, 100, 80), BLUE, 20, "after the keyframe")


async def test_keyframe_requests_repeat_while_waiting(receiver_factory: Any) -> None:
    """A request can be lost (UDP) or fall in the rate limit: while only inter frames come, ask again."""
    frames = encode_video("h264", moving(320, 240, 80), gop=80)
    async with box(receiver_factory) as rx:
        p = await present(rx)
        await p.feed(frames[:3])
        await settle(p, 3)
        # lose frame 3: the rest of the GOP cannot be decoded; the sender never sends a keyframe
        started = len(p.requests)
        await p.feed([packet(frames[4], discontinuity=True)] + frames[5:65], fps=30)
        # ~2 s of waiting at one request per KEYFRAME_REQUEST_INTERVAL at most
        assert len(p.requests) - started >= 3
        gaps = np.diff(p.requests)
        assert gaps.min() >= pipeline.KEYFRAME_REQUEST_INTERVAL * 0.9


async def test_a_source_that_never_flags_keyframes_still_plays(receiver_factory: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(pipeline, "KEYFRAME_WAIT_LIMIT", 0.5)
    frames = encode_video("h264", moving(320, 240, 60), gop=10)
    async with box(receiver_factory) as rx:
        p = await present(rx)
        # keyframe=False everywhere: the link gives up waiting after the limit and, having never
        # seen a flagged keyframe, does not wait again when the first inter frames fail to decode
        await p.feed(MediaPacket(f.data, pts=f.pts) for f in frames)  # made as they are pushed
        await settle(p, 20)
        await asyncio.sleep(0.2)
        stats = p.stats.status()
        # ~15 frames (0.5 s) skipped once; then no second wait, only the inter frames before the next
        # IDR fail (at most a GOP), and everything after plays
        assert 10 <= stats["dropped"] <= 22, stats
        assert stats["corrupt"] <= 10, stats
        assert stats["decoded"] + stats["dropped"] + stats["corrupt"] == 60, stats


# ------------------------------------------------------------------------------------------ format changes


async def test_resolution_change_mid_way_keeps_playing(receiver_factory: Any) -> None:
    small = encode_solid("h264", 320, 240, RED, 15, gop=15)     # 4:3 -> pillarboxed on 16:9
    large = encode_solid("h264", 640, 360, BLUE, 15, gop=15)    # 16:9 -> fills the screen
    async with box(receiver_factory) as rx:
        p = await present(rx)
        await p.feed(renumber(small))
        await settle(p, 15)
        assert p.stats.size == "320x240"
        rgb = await composite(rx, rx.display.backend.generation)
        assert_colour(region_rgb(rgb, 900, 500, 100, 80), RED, 20, "4:3 picture")
        assert_colour(region_rgb(rgb, 40, 500, 150, 80), (0, 0, 0), 12, "pillarbox bar")
        await p.feed(renumber(large, 15))
        await settle(p, 30)
        assert p.stats.size == "640x360"
        assert p.stats.corrupt == 0 and p.stats.error is None
        await asyncio.sleep(0.1)
        rgb = await composite(rx, rx.display.backend.generation)
        assert_colour(region_rgb(rgb, 900, 500, 100, 80), BLUE, 20, "16:9 picture")
        assert_colour(region_rgb(rgb, 40, 500, 150, 80), BLUE, 20, "where the bar was")


async def test_codec_change_mid_way_switches_decoder(receiver_factory: Any) -> None:
    h264 = encode_solid("h264", 320, 240, RED, 15, gop=15)
    h265 = encode_solid("h265", 320, 240, GREEN, 15, gop=15)
    async with box(receiver_factory) as rx:
        p = await present(rx, MediaCaps.video("h264", width=320, height=240))
        await p.feed(h264)
        await settle(p, 15)
        assert p.stats.decoder == "pyav-h264"
        first, *rest = renumber(h265, 15)
        await p.feed([packet(first, caps=MediaCaps.video("h265", width=320, height=240))] + rest)
        await settle(p, 30)
        assert p.stats.decoder == "pyav-h265"
        assert "h265" in p.stats.caps
        assert p.link.caps.codec == "h265"
        assert p.stats.corrupt == 0 and p.stats.error is None
        rgb = await composite(rx, rx.display.backend.generation)
        assert_colour(region_rgb(rgb, 900, 500, 100, 80), GREEN, 20, "after the switch to H.265")


async def test_switch_to_unsupported_caps_keeps_the_last_frame(receiver_factory: Any) -> None:
    frames = encode_solid("h264", 320, 240, RED, 10)
    async with box(receiver_factory) as rx:
        p = await present(rx)
        await p.feed(frames)
        await settle(p, 10)
        await p.feed([packet(f, caps=MediaCaps.video("mjpeg")) for f in frames[:3]])
        await wait_for(lambda: p.stats.error is not None, 3, what="the error")
        assert "mjpeg" in p.stats.error
        assert p.stats.decoder == "pyav-h264" and p.stats.decoded == 10
        rgb = await composite(rx)
        assert_colour(region_rgb(rgb, 900, 500, 100, 80), RED, 20, "the last good frame")
        assert p.session.visible


async def test_sample_aspect_ratio_reaches_the_screen(receiver_factory: Any) -> None:
    # 640x360 with SAR 9/10 displays as 16:10: 1728x1080 on the 1920x1080 screen, 96 px bars
    async with box(receiver_factory) as rx:
        p = await present(rx)
        await p.feed(encode_solid("h264", 640, 360, GREEN, 6, sar=Fraction(9, 10)))
        await settle(p, 6)
        rgb = await composite(rx, rx.display.backend.generation)
        assert_colour(region_rgb(rgb, 100, 100, 1720, 880), GREEN, 20, "16:10 content")
        assert_colour(region_rgb(rgb, 4, 100, 88, 880), (0, 0, 0), 12, "left bar")
        assert_colour(region_rgb(rgb, 1828, 100, 88, 880), (0, 0, 0), 12, "right bar")


async def test_paused_session_is_not_decoded_and_resyncs_when_shown(receiver_factory: Any) -> None:
    frames = renumber(encode_solid("h264", 320, 240, RED, 30, gop=15) +
                      encode_solid("h264", 320, 240, BLUE, 30, gop=15))
    async with box(receiver_factory) as rx:
        p = await present(rx)
        await asyncio.sleep(pipeline.KEYFRAME_REQUEST_INTERVAL)
        await p.feed(frames[:10])
        await settle(p, 10)
        rx.sessions.pause(p.session.id, "test")
        await p.feed(frames[10:20])
        assert p.stats.decoded == 10 and p.stats.dropped == 10  # hidden: not decoded
        requests = len(p.requests)
        rx.sessions.resume(p.session.id, "test")
        assert len(p.requests) == requests + 1  # shown again: ask for a keyframe at once
        await p.feed(frames[20:40])
        await settle(p, 10 + 10)
        await asyncio.sleep(0.1)
        assert p.stats.decoded == 10 + 10  # 20..29 skipped until the keyframe at 30
        rgb = await composite(rx)
        assert_colour(region_rgb(rgb, 900, 500, 100, 80), BLUE, 20, "after resuming")


# ------------------------------------------------------------------------------------------ garbage, flood, stall


async def test_garbage_never_crashes_and_good_data_still_plays(receiver_factory: Any) -> None:
    rng = np.random.default_rng(7)
    garbage = [rng.bytes(n) for n in (1, 2, 3, 17, 188, 1316, 5000, 60000)]
    garbage += [b"", b"\x00\x00\x00\x01", b"\x00\x00\x00\x01\x65" + rng.bytes(3000),
                b"\x00\x00\x00\x01\x67" + rng.bytes(30) + b"\x00\x00\x00\x01\x65" + rng.bytes(3000)]
    good = encode_solid("h264", 320, 240, GREEN, 10)
    aac = encode_audio("aac", tone(440, 48000, 0.5), 48000, "fltp")
    async with box(receiver_factory) as rx:
        p = await present(rx)
        audio_source = QueueSource(MediaCaps.audio("aac", sample_rate=48000, channels=2, extradata=aac.extradata))
        audio = await rx.media.attach(p.session, audio_source)
        for data in garbage:
            for keyframe in (True, False):
                p.source.push(MediaPacket(data, keyframe=keyframe))
                audio_source.push(MediaPacket(data))
            await asyncio.sleep(0.01)
        await wait_for(lambda: p.stats.received >= 2 * len(garbage), 3)
        await asyncio.sleep(0.3)
        assert p.stats.corrupt > 0 and audio.stats.corrupt > 0
        await p.feed(renumber(good, 1000))
        for data, _pts in aac.packets:
            audio_source.push(MediaPacket(data))
        await settle(p, 10)
        await wait_for(lambda: audio.stats.decoded >= len(aac.packets) - 2, 3, what="audio after garbage")
        rgb = await composite(rx)
        assert_colour(region_rgb(rgb, 900, 500, 100, 80), GREEN, 20, "good frames after garbage")
        assert p.session.visible
        assert p.link._thread is not None and p.link._thread.is_alive()
        assert audio._thread is not None and audio._thread.is_alive()


async def test_flooding_source_stays_bounded_and_the_box_responsive(receiver_factory: Any) -> None:
    frames = encode_video("h264", moving(1280, 720, 30), gop=10)
    async with box(receiver_factory) as rx:
        p = await present(rx, maxsize=60)
        lags: list[float] = []
        high_water = {"source": 0, "link": 0}

        async def heartbeat() -> None:
            while True:
                t = time.monotonic()
                await asyncio.sleep(0.02)
                lags.append(time.monotonic() - t - 0.02)

        beat = asyncio.create_task(heartbeat())
        started = time.monotonic()
        pushed = 0
        while time.monotonic() - started < 2.0:  # bursts of 100 every ~30 ms: 100x real time, for 2 s
            for _ in range(100):
                p.source.push(packet(frames[pushed % len(frames)]))
                pushed += 1
            high_water["source"] = max(high_water["source"], len(p.source._items))
            high_water["link"] = max(high_water["link"], p.link._queue.qsize())
            t = time.monotonic()
            status = rx.status()
            assert time.monotonic() - t < 0.2, "status took too long during the flood"
            assert status["sessions"][0]["state"] == "active"
            await asyncio.sleep(0.03)
        beat.cancel()
        stats = p.stats.status()
        assert pushed > 3000
        assert high_water["source"] <= 60 and high_water["link"] <= VIDEO_QUEUE
        assert p.source.dropped > 0  # the plugin-side queue dropped the oldest
        assert stats["dropped"] > 0 and stats["keyframe_requests"] >= 2  # the link flushed and resynced
        assert stats["decoded"] < pushed
        assert max(lags) < 0.25, f"event loop stalled for {max(lags):.3f} s"
        # shown frames stay recent: the delay from arrival to composite is bounded by max_late
        assert stats["delay_ms"]["p95"] is not None and stats["delay_ms"]["p95"] < 600
        assert p.session.visible


class SlowDecoder:
    """Takes 40 ms a frame: slower than the 60 fps it is fed."""

    def __init__(self, caps: MediaCaps, options: Any) -> None:
        import av

        self.corrupt = 0
        self._frame = av.VideoFrame.from_ndarray(np.full((240, 320, 3), 128, np.uint8), format="rgb24")

    def decode(self, packet: MediaPacket) -> list[Any]:
        time.sleep(0.04)  # the decode thread, not the event loop
        return [self._frame]

    def close(self) -> None:
        return None


class SlowDecoderPlugin:
    @hookimpl
    def receiver_register_decoders(self, registry: Any) -> None:
        registry.add(DecoderSpec("slow-test", "video", ("slowvideo",), RANK_PRIMARY, SlowDecoder))


async def test_a_decoder_that_cannot_keep_up_drops_late_packets(receiver_factory: Any) -> None:
    async with receiver_factory(config=BOX, plugins={"slow": SlowDecoderPlugin()}) as rx:
        p = await present(rx, MediaCaps.video("slowvideo"))
        assert p.link.spec.name == "slow-test"
        await p.feed((MediaPacket(b"x", pts=i) for i in range(120)), fps=60)
        await wait_for(lambda: p.stats.received == 120 and p.link._queue.qsize() == 0, 3)
        await asyncio.sleep(0.1)
        stats = p.stats.status()
        assert stats["late"] > 10
        assert stats["decoded"] + stats["dropped"] == 120
        assert 20 < stats["decoded"] < 80
        # latency is bounded by time: what is shown waited at most max_late (0.3 s) plus one decode
        assert stats["delay_ms"]["p99"] < (VIDEO_MAX_LATE + 0.04) * 1000 + 60


async def test_stalled_source_keeps_the_last_good_frame(receiver_factory: Any) -> None:
    async with box(receiver_factory) as rx:
        p = await present(rx)
        await p.feed(encode_solid("h264", 320, 240, BLUE, 10))
        await settle(p, 10)
        presented = rx.display.backend.frames
        await asyncio.sleep(2.3)  # nothing arrives; the display re-presents about once a second
        assert rx.display.backend.frames > presented
        rgb = await composite(rx)
        assert_colour(region_rgb(rgb, 900, 500, 100, 80), BLUE, 20, "the last frame, 2 s later")
        assert p.stats.decoded == 10 and p.session.visible


async def test_a_garbage_session_does_not_slow_the_other(receiver_factory: Any) -> None:
    rng = np.random.default_rng(3)
    good = encode_solid("h264", 640, 360, GREEN, 75, gop=30)
    async with box(receiver_factory) as rx:
        bad = await present(rx, peer="192.0.2.21", name="bad")
        ok = await present(rx, peer="192.0.2.22", name="ok")
        assert rx.display.layout.name == "side-by-side"

        async def garbage() -> None:
            for i in range(75 * 4):
                bad.source.push(MediaPacket(rng.bytes(int(rng.integers(1, 30000))), keyframe=i % 7 == 0))
                await asyncio.sleep(1 / (FPS * 4))

        await asyncio.gather(garbage(), ok.feed(good))
        await settle(ok, 75)
        stats = ok.stats.status()
        assert stats["decoded"] == 75 and stats["corrupt"] == 0 and stats["dropped"] == 0
        assert stats["fps"] >= 20, stats
        assert bad.stats.corrupt > 20
        assert bad.session.visible and ok.session.visible
        tile = next(t.rect for t in rx.display.layout.tiles if t.session_id == ok.session.id)
        rgb = await composite(rx)
        assert_colour(region_rgb(rgb, tile.x + tile.width // 2 - 50, tile.y + tile.height // 2 - 40, 100, 80),
                      GREEN, 20, "the good session's tile")
