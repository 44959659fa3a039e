"""Built-in layouts: the ``[display] layout`` mode (auto, fullscreen, side-by-side, quad) and ``camera``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._version import __version__
from ..context import CoreContext
from ..display.layouts import compute_layout
from ..hookspecs import hookimpl
from ..model import Layout, PluginManifest, Screen

if TYPE_CHECKING:
    from ..session.manager import Session


class Layouts:
    manifest = PluginManifest(name="layouts", display_name="Layouts", version=__version__,
                              provides=("fullscreen", "side-by-side", "quad", "auto"))

    def __init__(self, ctx: CoreContext) -> None:
        self.ctx = ctx

    @hookimpl(trylast=True)
    def receiver_layout(self, screen: Screen, sessions: Sequence[Session]) -> Layout:
        """The layout named in ``[display] layout``, cameras placed as ``[display] camera`` says."""
        display = self.ctx.core_config.display
        return compute_layout(display.layout, screen, sessions, display.camera)
