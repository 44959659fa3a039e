"""Layout geometry: fullscreen, side by side, 2x2 quad, and auto (1 full, 2 split, 3-4 quad), with
each presenter's camera as a picture-in-picture inset of its tile or as a tile of its own.

The newest presenter is heard (audio focus) and, in full screen, seen. The built-in ``layouts``
plugin answers ``receiver_layout`` with these; the display service falls back to full screen.

Cameras (``StreamRole.CAMERA``), ``[display] camera``:

- ``inset``: the camera is drawn over the bottom-right corner of its session's tile, a quarter of
  the tile's width, with its aspect ratio kept; the tile counts (auto, quad, side by side) stay
  those of the sessions.
- ``tile``: the camera takes a tile next to its session's while the mode has room (full screen has
  one tile, the others four; the newest presenters' cameras first); the others stay insets. The
  tiles are counted for ``auto``: one presenter with a camera is shown side by side.

A session that shows only a camera (no main stream) has the camera in its tile.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..model import Layout, Rect, Screen, StreamRole, Tile

__all__ = ["compute_layout", "inset_rect", "LAYOUT_MODES", "CAMERA_MODES"]

LAYOUT_MODES = ("auto", "fullscreen", "side-by-side", "quad")
CAMERA_MODES = ("inset", "tile")
MAX_TILES = 4

#: The inset is a 4:3 box a quarter of its tile's width (a 16:9 or 4:3 camera spans its full width).
INSET_WIDTH = 1 / 4
INSET_ASPECT = 3 / 4


class _Presenter(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def video_streams(self) -> tuple[StreamRole, ...]: ...


def _even(value: float) -> int:
    return int(value / 2) * 2


def _edges(total: int, parts: int) -> list[int]:
    return [round(total * i / parts / 2) * 2 for i in range(parts + 1)]


def _grid(screen: Screen, entries: Sequence[tuple[str, StreamRole]], cols: int, rows: int) -> list[Tile]:
    xs, ys = _edges(screen.width, cols), _edges(screen.height, rows)
    tiles = []
    for index, (session_id, stream) in enumerate(entries[: cols * rows]):
        col, row = index % cols, index // cols
        rect = Rect(xs[col], ys[row], xs[col + 1] - xs[col], ys[row + 1] - ys[row])
        tiles.append(Tile(session_id, rect, stream=stream))
    return tiles


def inset_rect(tile: Rect) -> Rect:
    """The camera inset of ``tile``: bottom-right, a quarter of its width, a margin of 1/64 of its width."""
    width = max(16, _even(tile.width * INSET_WIDTH))
    height = max(16, _even(width * INSET_ASPECT))
    margin = _even(tile.width / 64)
    return Rect(tile.x + _even(tile.width - width - margin), tile.y + _even(tile.height - height - margin),
                width, height)


def _has_camera(session: _Presenter) -> bool:
    """A camera next to a main stream (a session that shows only its camera has it in its tile)."""
    return StreamRole.CAMERA in session.video_streams and StreamRole.MAIN in session.video_streams


def _tile_stream(session: _Presenter) -> StreamRole:
    streams = session.video_streams
    return StreamRole.CAMERA if StreamRole.CAMERA in streams and StreamRole.MAIN not in streams else StreamRole.MAIN


def compute_layout(mode: str, screen: Screen, sessions: Sequence[_Presenter], camera: str = "inset") -> Layout:
    """Tiles for ``sessions`` (oldest first) in ``mode``, their cameras placed as ``camera`` says."""
    if not sessions:
        return Layout(name=mode)
    focus = sessions[-1].id
    shown = list(sessions[-1:] if mode == "fullscreen" else sessions[-MAX_TILES:])
    capacity = 1 if mode == "fullscreen" else MAX_TILES
    own_tile: set[str] = set()
    if camera == "tile":
        for session in reversed(shown):  # the newest presenters' cameras first
            if _has_camera(session) and len(shown) + len(own_tile) < capacity:
                own_tile.add(session.id)
    entries: list[tuple[str, StreamRole]] = []
    for session in shown:
        entries.append((session.id, _tile_stream(session)))
        if session.id in own_tile:
            entries.append((session.id, StreamRole.CAMERA))
    if mode == "auto":
        mode = "fullscreen" if len(entries) == 1 else "side-by-side" if len(entries) == 2 else "quad"
    if mode == "fullscreen":
        tiles = [Tile(focus, Rect(0, 0, screen.width, screen.height), stream=_tile_stream(sessions[-1]))]
    elif mode == "side-by-side":
        tiles = _grid(screen, entries, len(entries), 1)
    else:
        tiles = _grid(screen, entries, 2, 2)
    cameras = {s.id for s in shown if _has_camera(s) and s.id not in own_tile}
    insets = [Tile(t.session_id, inset_rect(t.rect), z=t.z + 1, stream=StreamRole.CAMERA)
              for t in tiles if t.stream is StreamRole.MAIN and t.session_id in cameras]
    return Layout(tiles=tiles + insets, audio_focus=focus, name=mode)
