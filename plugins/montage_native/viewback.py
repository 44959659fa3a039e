"""View-back: the room's composite, sent back to a joined browser as a video track.

The composite comes from the core (``ctx.display.watch``: one tap at 1280x720, 15 fps, scaled
once in the display thread and shared by every viewer); each viewer's track
(``viewback_track``, made by the engine with aiortc) hands those shared frames to its own aiortc
sender. ``Viewers`` caps how many watch at once (``max_viewers``); a viewer's slot is freed when
its track stops (its peer connection closed). This module imports no aiortc: the box counts
viewers and answers ``/features.json`` before any peer exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .viewback_track import ViewBackTrack

__all__ = ["WIDTH", "HEIGHT", "FPS", "Reader", "OpenTrack", "Viewers"]

WIDTH, HEIGHT, FPS = 1280, 720, 15.0


class Reader(Protocol):
    """What a view-back track needs of the core's display tap reader."""

    closed: bool

    async def next(self) -> Any: ...
    def close(self) -> None: ...


#: a new viewer's track, given the callback its ``stop`` calls (``Engine.view_back_track`` on a reader)
OpenTrack = Callable[[Callable[["ViewBackTrack"], None]], "ViewBackTrack"]


class Viewers:
    """Hands out view-back tracks, at most ``limit`` at once; ``limit`` 0 (or ``enabled`` off) = none."""

    def __init__(self, open_track: OpenTrack, *, enabled: bool, limit: int) -> None:
        self._open_track = open_track
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
        track = self._open_track(self.tracks.discard)
        self.tracks.add(track)
        return track

    def close(self) -> None:
        for track in list(self.tracks):
            track.stop()

    def status(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "max_viewers": self.limit, "viewers": len(self.tracks),
                "refused": self.refused, "frames_sent": sum(t.frames for t in self.tracks)}
