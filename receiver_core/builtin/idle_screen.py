"""Built-in idle screen items: box name, PIN, meeting ID and the box's addresses.

Protocol plugins add their own "how to connect" lines and the browser QR code.
"""

from __future__ import annotations

from .._version import __version__
from ..context import CoreContext
from ..hookspecs import hookimpl
from ..model import IdleState, Overlay, OverlayKind, PluginManifest, Screen


class IdleScreen:
    manifest = PluginManifest(name="idle_screen", display_name="Idle screen", version=__version__,
                              provides=("box name", "PIN", "meeting ID", "addresses"))

    def __init__(self, ctx: CoreContext) -> None:
        self.ctx = ctx

    @hookimpl
    def receiver_overlays(self, screen: Screen, state: IdleState) -> list[Overlay]:
        """Name, PIN (when set), meeting ID and the advertised addresses."""
        items = [Overlay(OverlayKind.TITLE, text=state.name, order=0)]
        if state.pin:
            items.append(Overlay(OverlayKind.PIN, text=state.pin))
        if state.meeting_id:
            items.append(Overlay(OverlayKind.MEETING, text=state.meeting_id))
        for address in state.addresses:
            items.append(Overlay(OverlayKind.ADDRESS, text=address))
        if not state.addresses:
            items.append(Overlay(OverlayKind.ADDRESS, text="No network"))
        return items
