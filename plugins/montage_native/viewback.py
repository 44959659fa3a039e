"""View-back: the room's composite, sent back to a joined browser as a video track.

The composite comes from the core (``ctx.display.watch``: one tap at 1280x720, 15 fps, scaled
once in the display thread and shared by every viewer); each viewer's track hands those shared
frames to its own aiortc sender, whose encoder (VP8, or H.264 if the page chose it) compresses
them at the bitrate that viewer's congestion control allows. ``Viewers`` caps how many watch at
once (``max_viewers``); a viewer's slot is freed when its track stops (its peer connection closed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

__all__ = ["WIDTH", "HEIGHT", "FPS", "Reader", "ViewBackTrack", "Viewers"]

WIDTH, HEIGHT, FPS = 1280, 720, 15.0


class Reader(Protocol):
    """What a view-back track needs of the core's display tap reader."""

    closed: bool

    async def next(self) -> Any: ...
    def close(self) -> None: ...


class ViewBackTrack(MediaStreamTrack):
    """A video track whose frames are the room's composite (shared, read-only ``av.VideoFrame``s)."""

    kind = "video"

    def __init__(self, reader: Reader, on_stop: Callable[[ViewBackTrack], None]) -> None:
        super().__init__()
        self._reader = reader
        self._on_stop = on_stop
        self.frames = 0

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        try:
            frame = await self._reader.next()
        except EOFError:
            self.stop()
            raise MediaStreamError from None
        self.frames += 1
        return frame

    def stop(self) -> None:
        if self.readyState == "live":
            self._reader.close()
            self._on_stop(self)
        super().stop()


class Viewers:
    """Hands out view-back tracks, at most ``limit`` at once; ``limit`` 0 (or ``enabled`` off) = none."""

    def __init__(self, watch: Callable[[], Reader], *, enabled: bool, limit: int) -> None:
        self._watch = watch
        self.enabled = enabled
        self.limit = limit
        self.tracks: set[ViewBackTrack] = set()
        self.refused = 0

    def open(self) -> ViewBackTrack | None:
        """A new viewer's track, or ``None`` when view-back is off or ``limit`` viewers already watch."""
        if not self.enabled:
            return None
        if len(self.tracks) >= self.limit:
            self.refused += 1
            return None
        track = ViewBackTrack(self._watch(), self.tracks.discard)
        self.tracks.add(track)
        return track

    def close(self) -> None:
        for track in list(self.tracks):
            track.stop()

    def status(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "max_viewers": self.limit, "viewers": len(self.tracks),
                "refused": self.refused, "frames_sent": sum(t.frames for t in self.tracks)}
