"""MPEG-TS demuxing with PyAV in a thread, fed from datagrams through a bounded byte pipe.

``ByteFeed`` is the only shared state: the event loop writes whole TS packets, the demux thread
reads. When the reader falls behind, the oldest datagrams are dropped (the decoder resyncs on the
next keyframe); memory never grows past ``max_bytes``.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from typing import Any

from receiver_core import MediaCaps, MediaPacket

__all__ = ["ByteFeed", "Demuxer", "video_caps", "audio_caps", "DEMUX_OPTIONS"]

log = logging.getLogger(__name__)

# keep the packets read while probing (no "nobuffer"), but do not analyse long: latency matters
DEMUX_OPTIONS = {"analyzeduration": "0", "probesize": "500000"}
VIDEO_CODECS = {"h264": "h264", "hevc": "h265"}


class ByteFeed:
    """A thread-safe, bounded pipe with a file-like ``read`` for PyAV."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.dropped_bytes = 0
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._closed = False
        self._cv = threading.Condition()

    def write(self, data: bytes) -> None:
        with self._cv:
            if self._closed:
                return
            self._chunks.append(data)
            self._size += len(data)
            while self._size > self.max_bytes and len(self._chunks) > 1:
                old = self._chunks.popleft()
                self._size -= len(old)
                self.dropped_bytes += len(old)
            self._cv.notify()

    def read(self, size: int = -1) -> bytes:
        with self._cv:
            while not self._chunks and not self._closed:
                self._cv.wait()
            if not self._chunks:
                return b""
            size = self._size if size is None or size < 0 else size
            out = bytearray()
            while self._chunks and len(out) < size:
                chunk = self._chunks.popleft()
                take = size - len(out)
                if len(chunk) > take:
                    self._chunks.appendleft(chunk[take:])
                    chunk = chunk[:take]
                out += chunk
                self._size -= len(chunk)
            return bytes(out)

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()


def video_caps(stream: Any) -> MediaCaps:
    ctx = stream.codec_context
    return MediaCaps.video(VIDEO_CODECS.get(ctx.name, ctx.name), width=ctx.width, height=ctx.height,
                           profile=(ctx.profile or "").lower())


def audio_caps(stream: Any) -> MediaCaps:
    ctx = stream.codec_context
    profile = (ctx.profile or "").lower()
    params: dict[str, Any] = {"sample_rate": ctx.sample_rate, "channels": ctx.channels}
    if ctx.name == "aac":
        params["profile"] = "lc" if profile in ("", "lc") else profile
    return MediaCaps.audio(ctx.name, **params)


class Demuxer(threading.Thread):
    """Reads the feed with libavformat's mpegts demuxer; reports streams, packets and errors.

    Callbacks run in this thread: hand them to the event loop with ``call_soon_threadsafe``.
    A sender that switches codec on a new PID shows up as a new stream: its packets carry the new
    caps. A switch on the same PID is not noticed (libavformat keeps the first codec; the ffmpeg
    CLI behaves the same); that would need the plugin to parse the PMT itself.
    """

    def __init__(
        self,
        feed: ByteFeed,
        on_streams: Callable[[MediaCaps | None, MediaCaps | None], None],
        on_packet: Callable[[str, MediaPacket], None],
        on_error: Callable[[str], None],
        name: str = "demux",
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.feed = feed
        self.on_streams = on_streams
        self.on_packet = on_packet
        self.on_error = on_error

    def run(self) -> None:
        import av

        try:
            container = av.open(self.feed, mode="r", format="mpegts", options=DEMUX_OPTIONS)
        except (av.FFmpegError, OSError, ValueError) as exc:
            self.on_error(f"no MPEG-TS stream could be read: {exc}")
            return
        try:
            self._demux(container)
        except (av.FFmpegError, OSError, ValueError) as exc:
            self.on_error(f"the MPEG-TS stream became unreadable: {exc}")
        finally:
            container.close()

    def _demux(self, container: Any) -> None:
        video = next((s for s in container.streams.video if s.codec_context.name in VIDEO_CODECS), None)
        audio = next(iter(container.streams.audio), None)
        if video is None and audio is None:
            self.on_error("the stream carries no supported audio or video")
            return
        self.on_streams(video_caps(video) if video is not None else None,
                        audio_caps(audio) if audio is not None else None)
        for packet in container.demux():
            if packet.size == 0:
                continue
            stream, new_caps = packet.stream, None
            if stream.type == "video" and stream is not video and stream.codec_context.name in VIDEO_CODECS:
                video, new_caps = stream, video_caps(stream)  # the sender switched codec or PID
            elif stream.type == "audio" and audio is not None and stream is not audio:
                audio, new_caps = stream, audio_caps(stream)
            if stream is video:
                kind = "video"
            elif stream is audio:
                kind = "audio"
            else:
                continue
            self.on_packet(kind, MediaPacket(bytes(packet), pts=packet.pts, time_base=packet.time_base,
                                             keyframe=packet.is_keyframe, caps=new_caps))
