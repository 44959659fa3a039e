"""Layout geometry: fullscreen, side by side, 2x2 quad, and auto (1 full, 2 split, 3-4 quad).

The newest presenter is heard (audio focus) and, in full screen, seen. The built-in ``layouts``
plugin answers ``receiver_layout`` with these; the display service falls back to full screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..model import Layout, Rect, Screen, Tile

__all__ = ["compute_layout", "LAYOUT_MODES"]

LAYOUT_MODES = ("auto", "fullscreen", "side-by-side", "quad")


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


def _edges(total: int, parts: int) -> list[int]:
    return [round(total * i / parts / 2) * 2 for i in range(parts + 1)]


def _grid(screen: Screen, ids: Sequence[str], cols: int, rows: int) -> list[Tile]:
    xs, ys = _edges(screen.width, cols), _edges(screen.height, rows)
    tiles = []
    for index, session_id in enumerate(ids[: cols * rows]):
        col, row = index % cols, index // cols
        tiles.append(Tile(session_id, Rect(xs[col], ys[row], xs[col + 1] - xs[col], ys[row + 1] - ys[row])))
    return tiles


def compute_layout(mode: str, screen: Screen, sessions: Sequence[_HasId]) -> Layout:
    """Tiles for ``sessions`` (oldest first) in ``mode``."""
    ids = [s.id for s in sessions]
    if not ids:
        return Layout(name=mode)
    if mode == "auto":
        mode = "fullscreen" if len(ids) == 1 else "side-by-side" if len(ids) == 2 else "quad"
    focus = ids[-1]
    if mode == "fullscreen":
        tiles = [Tile(focus, Rect(0, 0, screen.width, screen.height))]
    elif mode == "side-by-side":
        shown = ids[-4:]
        tiles = _grid(screen, shown, len(shown), 1)
    else:
        tiles = _grid(screen, ids[-4:], 2, 2)
    return Layout(tiles=tiles, audio_focus=focus, name=mode)
