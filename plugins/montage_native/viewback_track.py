"""The view-back track: the room's composite as an aiortc video track (imported by ``engine`` only).

Each viewer's track hands the core's shared frames to its own aiortc sender, whose encoder (VP8,
or H.264 if the page chose it) compresses them at the bitrate that viewer's congestion control
allows (``viewback`` counts the viewers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .viewback import Reader

__all__ = ["ViewBackTrack"]


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
