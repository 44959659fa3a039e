"""What is playing, from RAOP SET_PARAMETER bodies: DMAP text (``mlit``), artwork, progress.

DMAP items are ``tag (4) ‖ length (u32 BE) ‖ data``, declared with construct; sizes are bounded
by the body limit of the control connection and the artwork by ``MAX_ARTWORK``.
"""

from __future__ import annotations

import time
from typing import Any

import attrs
from construct import Bytes, ConstructError, GreedyBytes, GreedyRange, Int32ub, Prefixed, Struct

__all__ = ["NowPlaying", "parse_dmap"]

MAX_ARTWORK = 2 * 1024 * 1024
MAX_TEXT = 256
DmapItem = Struct("tag" / Bytes(4), "data" / Prefixed(Int32ub, GreedyBytes))
DmapItems = GreedyRange(DmapItem)
_TEXT_TAGS = {b"minm": "title", b"asar": "artist", b"asal": "album"}


def parse_dmap(body: bytes) -> dict[str, str]:
    """Title, artist and album of an ``mlit`` container (or of bare items); unknown tags are skipped."""
    try:
        items = DmapItems.parse(body)
        if len(items) == 1 and items[0].tag == b"mlit":
            items = DmapItems.parse(items[0].data)
    except ConstructError:
        return {}
    found: dict[str, str] = {}
    for item in items[:64]:
        name = _TEXT_TAGS.get(item.tag)
        if name is not None:
            found[name] = item.data[:MAX_TEXT * 4].decode("utf-8", "replace")[:MAX_TEXT]
    return found


@attrs.define
class NowPlaying:
    title: str = ""
    artist: str = ""
    album: str = ""
    artwork: bytes | None = attrs.field(default=None, repr=False)
    artwork_type: str = ""
    position: float | None = None
    duration: float | None = None
    progress_at: float = 0.0  # time.monotonic() when position was given
    updates: int = 0

    def set_dmap(self, body: bytes) -> None:
        for name, value in parse_dmap(body).items():
            setattr(self, name, value)
        self.updates += 1

    def set_artwork(self, content_type: str, body: bytes) -> None:
        if 0 < len(body) <= MAX_ARTWORK and content_type in ("image/jpeg", "image/png"):
            self.artwork, self.artwork_type = body, content_type
        else:
            self.artwork, self.artwork_type = None, ""
        self.updates += 1

    def set_progress(self, value: str, sample_rate: int) -> None:
        """``start/current/end`` in RTP time."""
        parts = value.split("/")
        if len(parts) != 3 or not all(p.isdigit() and len(p) <= 10 for p in parts):
            return
        start, current, end = (int(p) for p in parts)
        rate = max(sample_rate, 1)
        self.position = max(0, (current - start) % (1 << 32)) / rate
        self.duration = max(0, (end - start) % (1 << 32)) / rate
        self.progress_at = time.monotonic()
        self.updates += 1

    def position_now(self) -> float | None:
        """The playing position, advanced by the time since the sender reported it."""
        if self.position is None:
            return None
        position = self.position + time.monotonic() - self.progress_at
        return min(position, self.duration) if self.duration else position

    def status(self) -> dict[str, Any]:
        return {"title": self.title, "artist": self.artist, "album": self.album,
                "artwork_bytes": len(self.artwork or b""), "position": self.position, "duration": self.duration}
