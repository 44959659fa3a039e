"""The MPEG-TS example plugin end to end, with Debian's ``ffmpeg`` CLI as the sender over loopback.

The sans-I/O parser itself (``receiver_core.media.mpegts``) is tested and fuzzed in tests/unit/media."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from receiver_core.media.mpegts import TS_PACKET_SIZE, TsReceiver

from .helpers import (
    bar_colours,
    bars_match,
    dominant_frequency,
    ffmpeg_sender,
    free_udp_port,
    plugin_status,
    read_wav,
    sessions_of,
    udp_url,
    wait_exit,
    wait_for,
)

X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p"]


def _encode(path: Path, size: str, seconds: float, *extra: str) -> Path:
    """Pre-encode ``testsrc2`` (outside any event loop: fixtures run before the test's loop)."""
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size={size}:rate=30", "-t", str(seconds), *X264, *extra, "-f", "mpegts", str(path)],
                   check=True, timeout=120)
    return path


@pytest.fixture(scope="module")
def streams(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ts")
    small_first = _encode(folder / "a.ts", "640x360", 2)
    large_then = _encode(folder / "b.ts", "1280x720", 2.5, "-output_ts_offset", "2")  # timestamps go on
    both = folder / "resolution-change.ts"
    both.write_bytes(small_first.read_bytes() + large_then.read_bytes())
    return {
        "1080p": _encode(folder / "testsrc2-1080p.ts", "1920x1080", 6),
        "small": _encode(folder / "testsrc2-small.ts", "320x240", 4),
        "resolution-change": both,
    }


def send_file(path: Path, url: str, *, fmt: str = "mpegts") -> Any:
    """Send a pre-encoded file at its real pace without re-encoding: the sender costs little CPU."""
    return ffmpeg_sender("-re", "-i", str(path), "-c", "copy", "-f", fmt, url)


async def composite(rx: Any) -> np.ndarray:
    rgb = await asyncio.get_running_loop().run_in_executor(None, rx.display.backend.latest_rgb)
    assert rgb is not None
    return rgb


def video(session: dict[str, Any]) -> dict[str, Any]:
    return session.get("media", {}).get("video", {})


async def playing(rx: Any, count: int = 1, decoded: int = 30, timeout: float = 10) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        found = [s for s in sessions_of(rx, "mpegts")
                 if s["state"] == "active" and video(s).get("decoded", 0) >= decoded]
        return found if len(found) >= count else None
    return await wait_for(check, timeout, what=f"{count} MPEG-TS session(s) with {decoded} decoded frames")


pytestmark = pytest.mark.media

# ------------------------------------------------------------------------------------------ end to end


async def test_one_sender_shows_the_colour_bars(mpegts_receiver: Any) -> None:
    async with mpegts_receiver() as (rx, port):
        async with ffmpeg_sender("-re", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30", "-t", "5", *X264,
                                 "-f", "mpegts", udp_url(port)):
            (session,) = await playing(rx, decoded=60)
            await asyncio.sleep(0.5)
            stats = video(sessions_of(rx)[0])
            rgb = await composite(rx)
        assert stats["size"] == "1920x1080" and stats["decoder"] == "pyav-h264"
        assert stats["corrupt"] == 0 and stats["error"] is None
        assert stats["fps"] >= 20, stats
        assert session["peer"] == "127.0.0.1"
        assert rx.display.layout.name == "fullscreen"
        assert bars_match(rgb, 0, 0, 1920, 1080), bar_colours(rgb, 0, 0, 1920, 1080)
        assert plugin_status(rx, "mpegts")["bad_datagrams"] == 0


async def test_four_senders_fill_the_four_quadrants(mpegts_receiver: Any, streams: dict[str, Path]) -> None:
    async with mpegts_receiver() as (rx, port):
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(4):
                await stack.enter_async_context(send_file(streams["1080p"], udp_url(port)))
            await playing(rx, count=4, decoded=45, timeout=15)
            await asyncio.sleep(1.0)  # a steady two-second fps window
            sessions = sessions_of(rx, "mpegts")
            rgb = await composite(rx)
            layout = rx.display.layout
        assert len(sessions) == 4 and all(s["state"] == "active" for s in sessions)
        assert len({s["id"] for s in sessions}) == 4
        for s in sessions:
            stats = video(s)
            assert stats["size"] == "1920x1080" and stats["corrupt"] == 0
            assert stats["fps"] >= 15, (s["id"], stats)
        assert layout.name == "quad"
        quadrants = {(t.rect.x, t.rect.y, t.rect.width, t.rect.height) for t in layout.tiles}
        assert quadrants == {(0, 0, 960, 540), (960, 0, 960, 540), (0, 540, 960, 540), (960, 540, 960, 540)}
        assert {t.session_id for t in layout.tiles} == {s["id"] for s in sessions}
        for x, y, w, h in sorted(quadrants):
            assert bars_match(rgb, x, y, w, h), (x, y, bar_colours(rgb, x, y, w, h))


async def test_rtp_sender(mpegts_receiver: Any, streams: dict[str, Path]) -> None:
    rtcp = free_udp_port()
    async with mpegts_receiver() as (rx, port):
        url = f"rtp://127.0.0.1:{port}?rtcpport={rtcp}"
        async with send_file(streams["small"], url, fmt="rtp_mpegts"):
            await playing(rx, decoded=45)
            status = plugin_status(rx, "mpegts")
            stats = video(sessions_of(rx)[0])
        (sender,) = status["senders"]
        assert sender["datagrams"] > 50 and sender["rtp_lost"] == 0
        assert status["bad_datagrams"] == 0
        assert stats["size"] == "320x240" and stats["corrupt"] == 0
        rgb = await composite(rx)
        placement = (240, 0, 1440, 1080)  # 4:3 on 16:9
        assert bars_match(rgb, *placement), bar_colours(rgb, *placement)


async def test_aac_tone_reaches_the_speaker(mpegts_receiver: Any, tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    async with mpegts_receiver(config={"audio": {"backend": "wav", "path": str(out)}}) as (rx, port):
        async with ffmpeg_sender("-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
                                 "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "3", *X264,
                                 "-c:a", "aac", "-b:a", "128k", "-f", "mpegts", udp_url(port)) as proc:
            await playing(rx, decoded=15)
            await wait_for(lambda: rx.audio.backend.frames >= 48000, 5, what="a second of audio")
            audio = sessions_of(rx)[0]["media"]["audio"]
            await wait_exit(proc, 10)
    assert audio["decoder"] == "pyav-aac" and "profile=lc" in audio["caps"]
    assert audio["corrupt"] == 0
    samples, rate, channels = read_wav(out)
    assert (rate, channels) == (48000, 2)
    assert len(samples) >= 48000
    assert dominant_frequency(samples[:, 0], rate) == pytest.approx(440, abs=3)
    assert dominant_frequency(samples[:, 1], rate) == pytest.approx(440, abs=3)
    assert np.abs(samples).max() > 3000  # ffmpeg's sine is at 1/8 of full scale


def bad_datagrams() -> list[bytes]:
    rng = np.random.default_rng(11)
    ts = bytes([0x47]) + rng.bytes(TS_PACKET_SIZE - 1)
    rtp = struct.pack("!BBHII", 0x80, 33, 1, 0, 0x1234)
    out = [
        b"\x00" + rng.bytes(1315),                         # neither TS nor RTP (version 0)
        ts[:187], ts + b"\x47", ts * 3 + ts[:100],         # TS packets, no PAT or PMT in them
        ts * 3 + b"\x00" + ts[1:],                         # a sync byte missing
        struct.pack("!BBHII", 0x80, 96, 1, 0, 1) + ts * 7,  # RTP, not payload type 33
        rtp[:11],                                          # RTP header cut short
        rtp + ts[:100],                                    # RTP/TS with a partial TS packet
        bytes([0x40]) + rtp[1:] + ts,                      # RTP version 1
        bytes([0xA0]) + rtp[1:] + ts + b"\xff",            # padding longer than the packet
        bytes([0x90]) + rtp[1:] + b"\x00\x00\xff\xff",     # header extension past the end
        bytes([0x8F]) + rtp[1:],                           # 15 CSRCs announced, none there
        rng.bytes(70000)[:65507],                          # the largest datagram, random
    ]
    out += [bytes([int(rng.integers(0, 256)) & 0x3F]) + rng.bytes(int(rng.integers(1, 1400))) for _ in range(40)]
    return out


async def test_garbage_datagrams_are_counted_and_make_no_session(mpegts_receiver: Any) -> None:
    datagrams = bad_datagrams()
    reference = TsReceiver()  # what the box should count: the same parser, fed directly
    for data in datagrams:
        assert reference.feed(data, 0.0) == []
    expected = reference.status()
    assert expected["bytes_skipped"] > 0 and expected["units"] == 0 and expected["program"] is None
    async with mpegts_receiver() as (rx, port):
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            for data in datagrams:
                await loop.sock_sendto(sock, data, ("127.0.0.1", port))
                await asyncio.sleep(0.002)
        await wait_for(lambda: plugin_status(rx, "mpegts")["senders"]
                       and plugin_status(rx, "mpegts")["senders"][0]["datagrams"] >= len(datagrams), 3,
                       what="every datagram received")
        await asyncio.sleep(0.3)
        (sender,) = plugin_status(rx, "mpegts")["senders"]
        for key in ("datagrams", "bad_datagrams", "bytes_skipped", "sync_losses", "ts_packets", "units"):
            assert sender[key] == expected[key], key
        assert sender["session"] is None and sessions_of(rx) == []
        assert rx.sessions.counters["requested"] == 0


async def test_a_sender_that_stops_ends_its_session(mpegts_receiver: Any, streams: dict[str, Path]) -> None:
    async with mpegts_receiver(idle_timeout=1.0) as (rx, port):
        async with send_file(streams["small"], udp_url(port)) as proc:
            await playing(rx, decoded=15)
            (session,) = rx.sessions.all()
            await wait_exit(proc, 10)
            stopped = time.monotonic()
        await wait_for(lambda: not sessions_of(rx), 5, what="the session to end")
        waited = time.monotonic() - stopped
        assert 0.6 <= waited <= 2.5, waited  # idle_timeout (1 s) after the last datagram
        assert session.state.value == "ended" and session.end_reason.startswith("the sender went silent")
        assert plugin_status(rx, "mpegts")["senders"] == []


async def test_resolution_change_mid_stream_keeps_playing(mpegts_receiver: Any, streams: dict[str, Path]) -> None:
    async with mpegts_receiver() as (rx, port):
        async with send_file(streams["resolution-change"], udp_url(port)) as proc:
            (first,) = await playing(rx, decoded=10)
            assert video(first)["size"] == "640x360"
            await wait_for(lambda: video(sessions_of(rx)[0]).get("size") == "1280x720", 6, what="the new size")
            switched = video(sessions_of(rx)[0])["decoded"]
            await asyncio.sleep(1.0)
            after = sessions_of(rx)[0]
            rgb = await composite(rx)
            await wait_exit(proc, 10)
        assert after["id"] == first["id"] and after["state"] == "active"
        assert video(after)["decoded"] >= switched + 20, "frames stopped after the resolution change"
        assert video(after)["error"] is None
        assert bars_match(rgb, 0, 0, 1920, 1080), bar_colours(rgb, 0, 0, 1920, 1080)
