"""``Link``: one source -> decoder -> sink, with its own decode thread and a bounded queue.

The asyncio side pulls from the source and hands packets to the thread; the thread decodes (PyAV
releases the GIL) and passes frames to the sink, which scales them for their tile in the same
thread. Caps are checked when the link is built: an unsupported stream is refused before any data
flows. Latency is bounded by time, not by queue length: a packet that waited longer than
``max_late`` is dropped (a start-up burst is decoded, a decoder that cannot keep up is not allowed
to fall further behind). When that happens, or data was lost, or the decoder met corrupt data, the
queue is flushed, the source is asked for a keyframe (again, rate-limited, while only inter frames
come) and inter-coded video is skipped until one arrives; the tile keeps its last good frame
meanwhile. A source that never flags keyframes is decoded without waiting once the wait limit
has passed.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import UnsupportedMedia
from ..memory import page_out_ffmpeg
from ..model import StreamRole
from .caps import VIDEO, MediaCaps, MediaEnded, MediaPacket, MediaSource
from .decoders import Decoder, DecoderOptions, DecoderSpec
from .stats import StreamStats

__all__ = ["FrameSink", "Link", "INTER_CODED"]

log = logging.getLogger(__name__)

#: Video codecs whose frames depend on earlier ones: after loss, wait for a keyframe.
INTER_CODED = frozenset({"h264", "h265", "vp8"})
#: Give up waiting for a keyframe after this long (a source that never flags them still plays).
KEYFRAME_WAIT_LIMIT = 3.0
#: At most one keyframe request per this many seconds.
KEYFRAME_REQUEST_INTERVAL = 0.5

#: A decoder that raises this many times in a row (not corrupt data: exceptions) ends its session.
MAX_FAILURES_IN_A_ROW = 25

_STOP = object()


class FrameSink(Protocol):
    """Where decoded frames go (a display ``Surface`` or the audio output); called in the decode thread."""

    def put(self, frame: Any, arrival: float, decode_ms: float, sample_aspect_ratio: Any) -> None:
        """Take one decoded frame."""


class Link:
    def __init__(
        self,
        *,
        name: str,
        source: MediaSource,
        select: Callable[[MediaCaps], DecoderSpec],
        sink: FrameSink,
        stats: StreamStats,
        options: DecoderOptions,
        gate: Callable[[], bool],
        queue_size: int,
        max_late: float,
        on_failure: Callable[[str], None] | None = None,
        role: StreamRole = StreamRole.MAIN,
    ) -> None:
        self.name = name
        self.role = role  # what the stream shows (the session's screen, its camera)
        self.source = source
        self.caps = source.caps
        self._select = select
        self.spec = select(self.caps)  # raises UnsupportedMedia now, before any data flows
        self.sink = sink
        self.stats = stats
        self.options = options
        self.gate = gate
        self.max_late = max_late
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._decoder: Decoder | None = None
        self._need_keyframe = self._inter_coded(self.caps)
        self._waiting_since = time.monotonic()
        self._seen_keyframe = False
        self._unflagged = False  # the source never flags keyframes: waiting for one is pointless
        self._last_request = 0.0
        self._arrivals: collections.OrderedDict[int, float] = collections.OrderedDict()  # pts -> arrival
        self._thread: threading.Thread | None = None
        self._pump: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ended = asyncio.Event()
        #: Monotonic time the last packet came from the source (the core's silence watchdog reads it).
        self.last_received = time.monotonic()
        self._on_failure = on_failure
        self._failures_in_a_row = 0
        stats.decoder = self.spec.name
        stats.caps = self.caps.describe()

    @staticmethod
    def _inter_coded(caps: MediaCaps) -> bool:
        return caps.kind == VIDEO and caps.codec in INTER_CODED

    def _waits_for_keyframes(self) -> bool:
        """After loss, skip to the next keyframe: inter-coded video from a source that flags them."""
        return self._inter_coded(self.caps) and not self._unflagged

    # ------------------------------------------------------------------------------------ control

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._decode_loop, name=f"decode:{self.name}", daemon=True)
        self._thread.start()
        self._pump = self._loop.create_task(self._pump_loop(), name=f"pump:{self.name}")
        if self._need_keyframe:
            self.request_keyframe()

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        self._flush()
        self._queue.put(_STOP)
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 5.0)
        close = getattr(self.source, "close", None)
        if callable(close):
            result = close()
            if asyncio.iscoroutine(result):
                await result

    def resync(self) -> None:
        """Drop what is queued and restart at the next keyframe (after loss or when shown again)."""
        self.stats.dropped += self._flush()
        if self._wait_for_keyframe():
            self.request_keyframe()

    def _wait_for_keyframe(self) -> bool:
        """Skip inter frames until the next keyframe (if this stream waits for them); True if it does."""
        if not self._waits_for_keyframes():
            return False
        if not self._need_keyframe:
            self._need_keyframe = True
            self._waiting_since = time.monotonic()
        return True

    def request_keyframe(self) -> None:
        now = time.monotonic()
        if now - self._last_request < KEYFRAME_REQUEST_INTERVAL:
            return
        self._last_request = now
        self.stats.keyframe_requests += 1
        request = getattr(self.source, "request_keyframe", None)
        if callable(request):
            try:
                request()
            except Exception:
                log.exception("%s: keyframe request failed", self.name)

    def _flush(self) -> int:
        dropped = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return dropped
            if item is _STOP:
                self._queue.put(_STOP)
                return dropped
            dropped += 1

    # ------------------------------------------------------------------------------------ asyncio side

    async def _pump_loop(self) -> None:
        try:
            while True:
                try:
                    item = await self.source.recv()
                except MediaEnded:
                    break
                self.stats.received += 1
                self.last_received = time.monotonic()
                if not self.gate():
                    self.stats.dropped += 1
                    self._wait_for_keyframe()
                    continue
                if isinstance(item, MediaPacket) and item.discontinuity:
                    self.resync()
                try:
                    self._queue.put_nowait(item)
                except queue.Full:
                    self.resync()
                    self._queue.put_nowait(item)
        except Exception as exc:
            self.stats.error = f"source failed: {exc}"
            log.error("%s: source failed: %s", self.name, exc)
        finally:
            self.ended.set()

    # ------------------------------------------------------------------------------------ decode thread

    def _decode_loop(self) -> None:
        ffmpeg_was_loaded = "av" in sys.modules
        try:
            self._decoder = self.spec.factory(self.caps, self.options)
            if not ffmpeg_was_loaded and "av" in sys.modules:
                # the first stream loaded FFmpeg: most pages its libraries touched while loading
                # (relocations, every codec's init) are never used again; decoding faults back the rest
                page_out_ffmpeg()
        except Exception as exc:
            self.stats.error = f"decoder {self.spec.name} failed to open: {exc}"
            log.error("%s: %s", self.name, self.stats.error)
            self._failed(self.stats.error)
            return
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            try:
                self._decode_one(item)
                self._failures_in_a_row = 0
            except Exception as exc:  # never let one packet kill the thread
                self.stats.corrupt += 1
                self._failures_in_a_row += 1
                if self._failures_in_a_row == 1:
                    log.exception("%s: unexpected decode failure: %s", self.name, exc)
                if self._failures_in_a_row == MAX_FAILURES_IN_A_ROW:
                    self.stats.error = f"decoder {self.spec.name} failed {MAX_FAILURES_IN_A_ROW} times in a row: {exc}"
                    self._failed(self.stats.error)
        self._decoder.close()

    def _failed(self, message: str) -> None:
        """The decoder cannot go on (decode thread): tell the owner, who ends the session."""
        if self._on_failure is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._on_failure, message)

    def _decode_one(self, item: Any) -> None:
        arrival = item.arrival if isinstance(item, MediaPacket) else time.monotonic()
        if time.monotonic() - arrival > self.max_late:
            self.stats.dropped += 1
            self.stats.late += 1
            if self._inter_coded(self.caps) and not self._need_keyframe and self._loop is not None:
                self._loop.call_soon_threadsafe(self.resync)
            return
        if isinstance(item, MediaPacket):
            if item.caps is not None and item.caps != self.caps and not self._switch(item.caps):
                self.stats.dropped += 1
                return
            if item.keyframe:
                self._seen_keyframe, self._unflagged = True, False
            if self._need_keyframe:
                waited = time.monotonic() - self._waiting_since
                if not item.keyframe and waited < KEYFRAME_WAIT_LIMIT:
                    self.stats.dropped += 1
                    if self._loop is not None:  # ask again (rate-limited): a request may have been lost
                        self._loop.call_soon_threadsafe(self.request_keyframe)
                    return
                if not item.keyframe and not self._seen_keyframe:
                    self._unflagged = True
                    log.info("%s: the source flags no keyframes; decoding without waiting for them", self.name)
                self._need_keyframe = False
        if isinstance(item, MediaPacket) and item.pts is not None:
            self._arrivals[item.pts] = arrival
            while len(self._arrivals) > 64:
                self._arrivals.popitem(last=False)
        decoder = self._decoder
        assert decoder is not None
        corrupt_before = decoder.corrupt
        started = time.perf_counter()
        frames = decoder.decode(item)
        decode_ms = (time.perf_counter() - started) * 1000
        self.stats.record_decode(decode_ms)
        if decoder.corrupt != corrupt_before:
            self.stats.corrupt += decoder.corrupt - corrupt_before
            if self._inter_coded(self.caps) and self._loop is not None:
                self._loop.call_soon_threadsafe(self.resync)
        sar = getattr(decoder, "sample_aspect_ratio", None)
        for frame in frames:
            self.stats.decoded += 1
            if self.caps.kind == VIDEO:
                self.stats.size = f"{frame.width}x{frame.height}"
            # a decoder may hold frames back (B-frames, frame threads): time each frame from the
            # arrival of its own packet, matched by pts, so that delay shows in the stats
            frame_arrival = self._arrivals.pop(frame.pts, arrival) if frame.pts is not None else arrival
            self.sink.put(frame, frame_arrival, decode_ms, sar)

    def _switch(self, caps: MediaCaps) -> bool:
        """The stream changed format mid-way: pick a decoder for the new caps."""
        try:
            spec = self._select(caps)
        except UnsupportedMedia as exc:
            self.stats.error = str(exc)
            log.error("%s: %s; keeping the last good frame", self.name, exc)
            return False
        try:
            decoder = spec.factory(caps, self.options)
        except Exception as exc:
            self.stats.error = f"decoder {spec.name} failed to open: {exc}"
            return False
        if self._decoder is not None:
            self._decoder.close()
        log.info("%s: format changed to %s, now decoded by %s", self.name, caps.describe(), spec.name)
        self._decoder, self.spec, self.caps = decoder, spec, caps
        self.stats.decoder, self.stats.caps, self.stats.error = spec.name, caps.describe(), None
        self._need_keyframe = self._waits_for_keyframes()
        self._waiting_since = time.monotonic()
        return True
