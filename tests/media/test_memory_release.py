"""Memory comes back when the last session leaves: the display drops its canvases (the headless
backend then holds only the idle screen), surfaces drop their frames, and FFmpeg's code pages are handed back (see
``receiver_core.memory``). RSS itself is measured by the benchmark (``bench/run.py``), not here."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest

from receiver_core import memory
from receiver_core.display import service

from .helpers import encode_solid, wait_for
from .test_pipeline import BOX, present, settle

pytestmark = pytest.mark.media


async def test_the_last_session_leaving_drops_canvases_and_frames(receiver_factory: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    releases: list[bool] = []

    def release(collect_cycles: bool = False) -> bool:
        releases.append(collect_cycles)
        return memory.release_unused(collect_cycles)

    monkeypatch.setattr(service, "release_unused", release)
    async with receiver_factory(config=BOX) as rx:
        first, second = await present(rx, name="A"), await present(rx, peer="192.0.2.10", name="B")
        frames = encode_solid("h264", 640, 360, (30, 60, 210), 10)
        await first.feed(frames)
        await second.feed(frames)
        await settle(first, 10)
        await settle(second, 10)
        display, backend = rx.display, rx.display.backend
        await wait_for(lambda: display.compositor is not None and backend._latest is not None
                       and backend._latest.flags.writeable, 3, what="a composite of both sessions")
        canvas = weakref.ref(display.compositor.canvas)
        surface = display.surfaces[first.session.id]

        await rx.sessions.end(first.session, "normal")
        assert surface.take(surface.tile or _any_tile())[0] is None, "a forgotten surface still holds a frame"
        assert display.compositor is not None, "one session still plays: the canvas stays"

        await rx.sessions.end(second.session, "normal")
        await wait_for(lambda: display.compositor is None, 3, what="the display to drop its canvas")
        await wait_for(lambda: not backend._latest.flags.writeable, 3,
                       what="the headless backend to hold the idle screen, not a composite")
        gc.collect()
        assert canvas() is None, "something still references the compositor's canvas"
        assert not display.surfaces
        # the room emptied: memory (cycles collected first) goes back at once, and once more when
        # the sessions' teardown is over
        await wait_for(lambda: releases.count(True) >= 2, service.SETTLE_RELEASE + 3, what="two releases with collection")


def test_release_unused_can_collect_the_cycles_ended_sessions_leave() -> None:
    class Held:
        def __init__(self) -> None:
            self.buffer = bytearray(4 * 2**20)
            self.me = self  # a cycle: only the collector frees it

    gc.disable()
    try:
        held = Held()
        gone = weakref.ref(held)
        del held
        memory.release_unused()
        assert gone() is not None, "freed without a collection: the test proves nothing"
        memory.release_unused(collect_cycles=True)
        assert gone() is None
    finally:
        gc.enable()


def _any_tile() -> Any:
    from receiver_core.model import Rect

    return Rect(0, 0, 640, 360)


def test_only_read_only_mappings_of_pyav_are_paged_out() -> None:
    folders = ("/venv/site-packages/av/", "/venv/site-packages/av.libs/")
    maps = "\n".join([
        "7f0000000000-7f0000100000 r--p 00000000 08:01 11 /venv/site-packages/av.libs/libavcodec-1.so.62",
        "7f0000100000-7f0000900000 r-xp 00100000 08:01 11 /venv/site-packages/av.libs/libavcodec-1.so.62",
        "7f0000900000-7f0000a00000 rw-p 00900000 08:01 11 /venv/site-packages/av.libs/libavcodec-1.so.62",
        "7f0001000000-7f0001010000 r-xp 00000000 08:01 12 /venv/site-packages/av/frame.abi3.so",
        "7f0002000000-7f0002100000 r-xp 00000000 08:01 13 /usr/lib/x86_64-linux-gnu/libc.so.6",
        "7f0003000000-7f0003100000 rw-p 00000000 00:00 0 ",
        "7f0004000000-7f0004100000 r-xp 00000000 08:01 14 /venv/site-packages/avocado/x.so",
    ])
    assert memory.read_only_mappings(maps, folders) == [
        (0x7F0000000000, 0x100000), (0x7F0000100000, 0x800000), (0x7F0001000000, 0x10000)]


def test_page_out_ffmpeg_is_safe_while_ffmpeg_is_in_use() -> None:
    """Paging out is advice: decoding right after it still works (pages come back from the cache)."""
    import av

    from .helpers import decode_all, packet

    frames = encode_solid("h264", 320, 240, (220, 40, 50), 5)
    assert memory.ffmpeg_folders(), "PyAV is imported"
    memory.page_out_ffmpeg()
    ctx = av.CodecContext.create("h264", "r")

    class Decoder:
        def decode(self, item: Any) -> list[Any]:
            return list(ctx.decode(av.Packet(item.data)))

    assert len(decode_all(Decoder(), [packet(f) for f in frames]) + list(ctx.decode(None))) == 5


class CountingLibc:
    """Stands in for glibc: records ``mallopt`` and ``malloc_trim`` calls."""

    def __init__(self) -> None:
        self.trims = 0
        self.options: list[tuple[int, int]] = []

    def mallopt(self, option: int, value: int) -> int:
        self.options.append((option, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.trims += 1
        return 1


def test_free_heap_memory_is_trimmed_now_and_then_while_video_plays(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    libc = CountingLibc()
    monkeypatch.setattr(memory, "_libc", lambda: libc)
    monkeypatch.setattr(memory, "TRIM_EVERY", 0.05)
    monkeypatch.setattr(memory, "trimmer", memory._Trimmer())
    memory.streaming(True)
    memory.streaming(True)  # a second video: still one trimming thread
    try:
        assert memory.trimmer.running
        assert (memory.M_MMAP_THRESHOLD, 32 * memory.MiB) in libc.options  # frame buffers stay in the heap
        deadline = time.monotonic() + 5
        while memory.trimmer.trims < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert memory.trimmer.trims >= 3 and libc.trims == memory.trimmer.trims
        assert sum(t.name == "memory-trim" for t in __import__("threading").enumerate()) == 1
    finally:
        memory.streaming(False)
    assert not memory.trimmer.running
    assert memory.trimmer.thread is not None
    memory.trimmer.thread.join(1.0)  # it was between two trims, or finishing one
    assert not memory.trimmer.thread.is_alive()
    stopped_at = libc.trims  # idle: one last trim by streaming(False) itself, then none
    time.sleep(0.2)
    assert libc.trims == stopped_at
