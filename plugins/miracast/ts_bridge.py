"""The one seam between the Wi-Fi Display session and MPEG-TS demuxing.

TEMPORARY: the core's byte-stream TS depacketizer (``receiver_core.media``, branch media-ts) replaces
this module when it lands in main; until then the TS bytes go through PyAV's ``mpegts`` demuxer over
a bounded pipe in a thread. PyAV follows PAT → PMT itself (no PID or table id is hard-coded here).
The session only calls ``open_ts_consumer()``, ``feed()`` and ``close()``.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from receiver_core import MediaCaps, MediaPacket

__all__ = ["TsConsumer", "open_ts_consumer"]

log = logging.getLogger(__name__)

DEMUX_OPTIONS = {"analyzeduration": "0", "probesize": "500000"}
VIDEO_CODECS = {"h264": "h264", "hevc": "h265"}

OnStreams = Callable[[MediaCaps | None, MediaCaps | None], None]
OnPacket = Callable[[str, MediaPacket], None]
OnError = Callable[[str], None]
StartThread = Callable[..., Any]


class TsConsumer(Protocol):
    def feed(self, data: bytes) -> None:
        """Whole 188-byte TS packets, in order."""

    def close(self) -> None:
        """No more data; the consumer's thread ends."""


class _Pipe:
    """Bounded, thread-safe byte pipe with a file-like ``read`` for PyAV; drops the oldest data when full."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.dropped_bytes = 0
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._closed = False
        self._cv = threading.Condition()

    def feed(self, data: bytes) -> None:
        with self._cv:
            if self._closed:
                return
            self._chunks.append(data)
            self._size += len(data)
            while self._size > self.max_bytes and len(self._chunks) > 1:
                self._size -= len(old := self._chunks.popleft())
                self.dropped_bytes += len(old)
            self._cv.notify()

    def read(self, size: int = -1) -> bytes:
        with self._cv:
            while not self._chunks and not self._closed:
                self._cv.wait()
            size = self._size if size is None or size < 0 else size
            out = bytearray()
            while self._chunks and len(out) < size:
                chunk = self._chunks.popleft()
                if len(chunk) > size - len(out):
                    self._chunks.appendleft(chunk[size - len(out):])
                    chunk = chunk[:size - len(out)]
                out += chunk
                self._size -= len(chunk)
            return bytes(out)

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()


def _video_caps(stream: Any) -> MediaCaps:
    ctx = stream.codec_context
    return MediaCaps.video(VIDEO_CODECS[ctx.name], width=ctx.width, height=ctx.height,
                           profile=(ctx.profile or "").lower())


def _audio_caps(stream: Any) -> MediaCaps:
    ctx = stream.codec_context
    params: dict[str, Any] = {"sample_rate": ctx.sample_rate, "channels": ctx.channels}
    if ctx.name == "aac":
        profile = (ctx.profile or "").lower()
        params["profile"] = "lc" if profile in ("", "lc") else profile
    return MediaCaps.audio(ctx.name, **params)


def _demux(pipe: _Pipe, on_streams: OnStreams, on_packet: OnPacket, on_error: OnError) -> None:
    import av

    try:
        container = av.open(pipe, mode="r", format="mpegts", options=DEMUX_OPTIONS)
    except (av.FFmpegError, OSError, ValueError) as exc:
        on_error(f"no MPEG-TS stream could be read: {exc}")
        return
    try:
        video = next((s for s in container.streams.video if s.codec_context.name in VIDEO_CODECS), None)
        audio = next(iter(container.streams.audio), None)
        if video is None and audio is None:
            on_error("the stream carries no supported audio or video")
            return
        on_streams(_video_caps(video) if video is not None else None, _audio_caps(audio) if audio else None)
        for packet in container.demux():
            if packet.size == 0 or packet.stream not in (video, audio):
                continue
            kind = "video" if packet.stream is video else "audio"
            on_packet(kind, MediaPacket(bytes(packet), pts=packet.pts, time_base=packet.time_base,
                                        keyframe=packet.is_keyframe))
    except (av.FFmpegError, OSError, ValueError) as exc:
        on_error(f"the MPEG-TS stream became unreadable: {exc}")
    except Exception as exc:  # noqa: BLE001 - bytes from one source must end that source, never the plugin
        log.exception("MPEG-TS demuxer failed")
        on_error(f"the MPEG-TS demuxer failed: {type(exc).__name__}")
    finally:
        container.close()


def open_ts_consumer(name: str, on_streams: OnStreams, on_packet: OnPacket, on_error: OnError, *,
                     start_thread: StartThread | None = None, max_bytes: int = 4 * 1024 * 1024) -> TsConsumer:
    """Start demuxing; callbacks run in the demux thread (hand them to the loop thread-safely)."""
    pipe = _Pipe(max_bytes)
    if start_thread is None:
        threading.Thread(target=_demux, args=(pipe, on_streams, on_packet, on_error), name=name, daemon=True).start()
    else:
        start_thread(_demux, pipe, on_streams, on_packet, on_error, name=name)
    return pipe
