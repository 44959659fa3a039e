"""One video URL played by the box: PyAV opens, demuxes and decodes it in a thread of its own
(``ctx.start_thread``); decoded frames go to the core as ``raw`` video through a ``QueueSource``,
paced by their timestamps so the queue stays short. The loop side reads ``position``, ``duration``
and ``rate``, and sets ``rate`` (0 = pause), ``seek()`` and ``stop()``.

Only the video stream is played (no sound yet). Every URL FFmpeg opens (playlists, segments,
redirects) goes through ``fetch.PolicedFetcher`` (PyAV ``io_open``), which checks it against the
address policy first; FFmpeg is also limited to network protocols (``protocol_whitelist``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .fetch import PolicedFetcher

__all__ = ["VideoPlayer", "OPEN_TIMEOUT", "READ_TIMEOUT"]

log = logging.getLogger(__name__)

OPEN_TIMEOUT = 10.0
READ_TIMEOUT = 10.0
PROTOCOLS = "http,https,tcp,tls,crypto"
PAUSE_POLL = 0.05


class VideoPlayer:
    def __init__(self, url: str, *, start_fraction: float, start_seconds: float | None,
                 push: Callable[[Any], None], ended: Callable[[str | None], None],
                 fetcher: PolicedFetcher | None = None) -> None:
        self.url = url
        self.fetcher = fetcher  # when given, every URL FFmpeg opens (playlists, segments, redirects) is checked
        self.start_fraction = start_fraction
        self.start_seconds = start_seconds
        self._push = push  # thread-safe: hands one av.VideoFrame to the loop
        self._ended = ended  # thread-safe: called once, with an error text or None
        self.duration: float | None = None
        self.position = 0.0
        self.rate = 1.0
        self.frames = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._seek: float | None = None
        self._lock = threading.Lock()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def seek(self, seconds: float) -> None:
        with self._lock:
            self._seek = seconds

    def run(self) -> None:
        """The thread body: never raises (a failure is reported through ``ended``)."""
        error: str | None = None
        try:
            self._play()
        except Exception as exc:  # FFmpeg errors, network errors: the sender is told, the box goes on
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
            if self.fetcher is not None and self.fetcher.refused:  # FFmpeg reports a refusal as an I/O error
                error = f"URLRefused: {self.fetcher.refused[:200]}"
            log.info("AirPlay video %s failed: %s", _short(self.url), error)
        self.error = error
        self._ended(error)

    def _play(self) -> None:
        import av

        container: Any = av.open(self.url, timeout=(OPEN_TIMEOUT, READ_TIMEOUT),
                                 # http_persistent=0: FFmpeg's HLS demuxer asserts (aborts) when it tries to reuse
                                 # a connection it did not open itself, which with io_open is every one
                                 options={"protocol_whitelist": PROTOCOLS, "reconnect": "0", "http_persistent": "0"},
                                 io_open=self.fetcher.open if self.fetcher is not None else None)
        try:
            if not container.streams.video:
                raise ValueError("no video stream in the URL")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if container.duration:
                self.duration = container.duration / 1_000_000
            start = self.start_seconds
            if start is None and self.duration:
                start = self.start_fraction * self.duration
            if start:
                self.seek(start)
            self._decode(container, stream)
        finally:
            container.close()

    def _decode(self, container: Any, stream: Any) -> None:
        base_wall, base_pts = time.monotonic(), None
        while not self.stopped:
            with self._lock:
                target, self._seek = self._seek, None
            if target is not None:
                container.seek(int(target / stream.time_base), stream=stream, backward=True)
                base_pts = None
            restarted = False
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                if target is not None and frame.time < target - 0.001:
                    continue  # decoded up to the scrub position from the keyframe before it
                if base_pts is None:
                    base_wall, base_pts = time.monotonic(), frame.time
                base_wall = self._pace(base_wall, frame.time - base_pts)
                if self.stopped:
                    return
                if self._seek is not None:
                    restarted = True
                    break
                self.position = frame.time
                self.frames += 1
                self._push(frame)
            if not restarted:
                return

    def _pace(self, base_wall: float, offset: float) -> float:
        """Wait until the frame is due; time spent paused moves the base. Returns the new base."""
        while not self.stopped and self._seek is None:
            if self.rate <= 0:
                paused = time.monotonic()
                self._stop.wait(PAUSE_POLL)
                base_wall += time.monotonic() - paused
                continue
            delay = base_wall + offset / self.rate - time.monotonic()
            if delay <= 0:
                break
            self._stop.wait(min(delay, PAUSE_POLL))
        return base_wall


def _short(url: str) -> str:
    return url.split("?", 1)[0][:120]  # query strings often carry tokens
