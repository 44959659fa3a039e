"""A composite as a list of pictures, for a display backend that scales tiles itself (on the GPU).

The CPU path (``Compositor``) scales every frame with libswscale in its decode thread and copies
it into one I420 canvas. A backend with ``scales_tiles = True`` (the SDL window when its renderer
is accelerated) is handed a ``Scene`` instead: each tile's latest frame at the size it was
decoded, where it goes on the screen, its label, and the strip. The backend uploads a frame only
when its ``generation`` changed and lets the GPU scale it into place; nothing is scaled or copied
into a canvas on the CPU.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ..model import Layout
from .compositor import I420, Placement, Surface, label_position

__all__ = ["SceneTile", "Scene", "build_scene"]


@attrs.frozen
class SceneTile:
    """One picture of the scene."""

    key: str  #: the tile's stream key (session ID, or "<id>/camera")
    generation: int  #: changes with every new frame: upload the image again only then
    image: I420  #: the frame at its own size (BT.709 yuv420p, even size)
    placement: Placement  #: where it goes, in screen pixels (aspect kept, letterboxed in its tile)
    arrival: float  #: when the frame's data reached the box (the display service's statistics)
    label: tuple[I420, int, int] | None = None  #: the sender's name and where it goes, drawn over the picture


@attrs.frozen
class Scene:
    """Everything on the screen but black, bottom to top."""

    tiles: tuple[SceneTile, ...] = ()
    overlay: tuple[I420, int, int] | None = None  #: the strip (PIN, meeting ID), over the tiles


def build_scene(layout: Layout, surfaces: Mapping[str, Surface], labels: Mapping[str, I420 | None],
                overlay: tuple[I420, int, int] | None) -> Scene:
    """The scene of ``layout``: a tile whose surface has no frame yet is left out (black)."""
    tiles = []
    for tile in sorted(layout.tiles, key=lambda t: t.z):
        surface = surfaces.get(tile.key)
        if surface is None:
            continue
        scaled, generation, arrival = surface.take_unscaled(tile.rect)
        if scaled is None:
            continue
        label = labels.get(tile.key)
        at = label_position(label, tile.rect) if label is not None else None
        tiles.append(SceneTile(tile.key, generation, scaled.image, scaled.placement, arrival,
                               (label, *at) if label is not None and at is not None else None))
    return Scene(tuple(tiles), overlay)
