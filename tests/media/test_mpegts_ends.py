"""Every way out of an MPEG-TS session ends the core session exactly once (issue 7, item 2).

The sender is Debian's ``ffmpeg`` CLI (or a socket replaying an ffmpeg-made file, where the test
needs the same source port to go on sending garbage). Before the fix an audio-only stream made
about three sessions a second that never ended (``Sender.run``'s ``finally: close()`` marked the
sender closed before the scheduled ``_finish`` ran, so ``sessions.end`` was skipped), and a valid
stream followed by garbage stayed "active" on its last frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from receiver_core import MediaCaps, hookimpl
from receiver_core.media.decoders import DecoderOptions, DecoderRegistry, DecoderSpec

from .helpers import ffmpeg_sender, free_udp_port, mpegts_config, mpegts_entry_point, plugin_status, udp_url, wait_for

pytestmark = pytest.mark.media

X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-pix_fmt", "yuv420p"]


class Ends:
    """Counts ``receiver_session_ended`` per session and remembers every session that started."""

    def __init__(self) -> None:
        self.ended: Counter[str] = Counter()
        self.at: dict[str, float] = {}
        self.started: list[Any] = []

    @hookimpl
    def receiver_session_started(self, session: Any) -> None:
        self.started.append(session)

    @hookimpl
    def receiver_session_ended(self, session: Any, reason: str) -> None:
        self.ended[session.id] += 1
        self.at[session.id] = time.monotonic()


@contextlib.asynccontextmanager
async def box(receiver_factory: Any, *extra: tuple[str, object], **plugin: Any) -> AsyncIterator[tuple[Any, int, Ends]]:
    ends = Ends()
    port = free_udp_port()
    plugin.setdefault("idle_timeout", 1.0)
    async with receiver_factory(entry_points=[mpegts_entry_point()], config=mpegts_config(port, **plugin),
                                plugins=[("ends", ends), *extra]) as rx:
        yield rx, port, ends


def assert_ended_once(rx: Any, ends: Ends, reason: str) -> Any:
    """Exactly one session, ended exactly once for ``reason``, nothing left behind (call after the end)."""
    assert rx.sessions.counters["requested"] == 1, rx.sessions.counters
    assert rx.sessions.all() == []
    assert plugin_status(rx, "mpegts")["senders"] == []
    (session,) = ends.started if ends.started else [None]
    if session is not None:
        assert ends.ended[session.id] == 1 and reason in (session.end_reason or ""), (session.end_reason, reason)
    else:  # ended before it reached the screen: refused, counted once
        assert rx.sessions.counters["rejected"] + rx.sessions.counters["ended"] == 1
    return session


@pytest.fixture(scope="module")
def small_ts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ends") / "small.ts"
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=30", "-t", "2", *X264, "-f", "mpegts", str(path)],
                   check=True, timeout=120)
    return path


@pytest.mark.parametrize(("what", "args"), [
    ("audio only", ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-c:a", "aac"]),
    ("unsupported video codec", ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-c:v", "mpeg2video"]),
])
async def test_a_stream_without_usable_video_makes_no_session(receiver_factory: Any, what: str,
                                                               args: list[str]) -> None:
    """Before: an audio-only stream made about three sessions a second that never ended (205 after 60 s)."""
    async with box(receiver_factory) as (rx, port, ends):
        async with ffmpeg_sender("-re", *args, "-t", "3", "-f", "mpegts", udp_url(port)) as proc:
            await wait_for(lambda: plugin_status(rx, "mpegts")["senders"], 5, what="the sender tracked")
            await asyncio.sleep(1.0)
            (sender,) = plugin_status(rx, "mpegts")["senders"]
            await asyncio.wait_for(proc.wait(), 10)
        assert "no video the box can decode" in sender["error"], sender
        await wait_for(lambda: not plugin_status(rx, "mpegts")["senders"], 5, what="the quiet sender forgotten")
        assert rx.sessions.counters["requested"] == 0 and ends.started == [] and rx.sessions.all() == []


async def replay(sock: socket.socket, port: int, data: bytes, seconds: float) -> None:
    """Send ``data`` in 1316-byte datagrams spread over ``seconds`` (ffmpeg's own pace, roughly)."""
    chunks = [data[i:i + 1316] for i in range(0, len(data), 1316)]
    loop = asyncio.get_running_loop()
    for index, chunk in enumerate(chunks):
        await loop.sock_sendto(sock, chunk, ("127.0.0.1", port))
        if index % 8 == 7:
            await asyncio.sleep(seconds * 8 / len(chunks))


def garbage_ts(rng: np.random.Generator) -> bytes:
    """Seven TS packets with a good sync byte and random bodies: the wire check passes, nothing decodes."""
    return b"".join(b"\x47" + rng.bytes(187) for _ in range(7))


async def test_garbage_after_valid_data_ends_the_session_once(receiver_factory: Any, small_ts: Path) -> None:
    rng = np.random.default_rng(5)
    async with box(receiver_factory) as (rx, port, ends):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            await replay(sock, port, small_ts.read_bytes(), 2.0)
            await wait_for(lambda: ends.started, 5, what="the session on screen")
            valid_until = time.monotonic()
            loop = asyncio.get_running_loop()
            while time.monotonic() - valid_until < 4.0:  # the same sender goes on with garbage
                await loop.sock_sendto(sock, garbage_ts(rng), ("127.0.0.1", port))
                await asyncio.sleep(0.005)
            ignored = plugin_status(rx, "mpegts")["ignored"]
        await wait_for(lambda: ends.ended, 5, what="the session to end")
        assert_ended_once(rx, ends, "")  # one request only: the garbage did not start a new session
        (session,) = ends.started
        assert any(word in session.end_reason for word in ("went silent", "unreadable")), session.end_reason
        assert ends.at[session.id] - valid_until < 3.5  # idle_timeout (1 s) after the last good packet
        assert ignored == 1


async def test_a_sender_that_goes_away_ends_once(receiver_factory: Any, small_ts: Path) -> None:
    async with box(receiver_factory) as (rx, port, ends):
        async with ffmpeg_sender("-re", "-i", str(small_ts), "-c", "copy", "-f", "mpegts", udp_url(port)) as proc:
            await wait_for(lambda: ends.started, 5, what="the session on screen")
            await asyncio.wait_for(proc.wait(), 10)
        await wait_for(lambda: ends.ended, 5, what="the session to end")
        await asyncio.sleep(1.0)  # the watchdog keeps looking: still once
        session = assert_ended_once(rx, ends, "went silent")
        assert session is not None


class BrokenDecoder:
    """An h264 'decoder' that fails: at open, or on every packet."""

    def __init__(self, when: str) -> None:
        self.when = when

    @hookimpl
    def receiver_register_decoders(self, registry: DecoderRegistry) -> None:
        def factory(caps: MediaCaps, options: DecoderOptions) -> Any:
            if self.when == "open":
                raise RuntimeError("no hardware here")
            return Failing()
        registry.add(DecoderSpec("broken-h264", "video", ("h264",), 1000, factory, description="test: fails"))


class Failing:
    corrupt = 0

    def decode(self, packet: Any) -> list[Any]:
        raise RuntimeError("decoder exploded")

    def close(self) -> None:
        return None


@pytest.mark.parametrize("when", ["open", "decode"])
async def test_a_decoder_error_ends_the_session_once(receiver_factory: Any, small_ts: Path, when: str) -> None:
    """Before: a decoder that failed left a black tile on screen for as long as the sender sent."""
    async with box(receiver_factory, ("broken", BrokenDecoder(when)), idle_timeout=10.0) as (rx, port, ends):
        async with ffmpeg_sender("-re", "-stream_loop", "3", "-i", str(small_ts), "-c", "copy", "-f", "mpegts",
                                 udp_url(port)):
            await wait_for(lambda: ends.started, 5, what="the session on screen")
            await wait_for(lambda: ends.ended, 5, what="the session to end on the decoder error")
            await asyncio.sleep(0.5)
            session = assert_ended_once(rx, ends, "error: decoder broken-h264")
            assert session is not None


async def test_a_retired_plugin_ends_its_sessions_once(receiver_factory: Any, small_ts: Path) -> None:
    async with box(receiver_factory) as (rx, port, ends):
        async with ffmpeg_sender("-re", "-stream_loop", "3", "-i", str(small_ts), "-c", "copy", "-f", "mpegts",
                                 udp_url(port)):
            await wait_for(lambda: ends.started, 5, what="the session on screen")
            rx.plugins.mark_failed("mpegts", RuntimeError("test: plugin broke"), hook="test")
            await wait_for(lambda: ends.ended, 5, what="the session to end")
            await asyncio.sleep(0.5)
        (session,) = ends.started
        assert ends.ended[session.id] == 1 and session.end_reason == "error: the protocol plugin failed"
        assert rx.sessions.counters["requested"] == 1 and rx.sessions.all() == []
