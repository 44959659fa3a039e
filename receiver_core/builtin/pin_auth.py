"""Built-in authorization: box PIN, optional moderator approval, meeting ID check. Essential."""

from __future__ import annotations

from .._version import __version__
from ..context import CoreContext
from ..hookspecs import hookimpl
from ..model import AuthDecision, PluginManifest, SessionRequest


class PinAuth:
    manifest = PluginManifest(name="pin_auth", display_name="PIN and approval", version=__version__,
                              provides=("box PIN (off/fixed/rotating)", "moderator approval", "meeting ID check"))

    def __init__(self, ctx: CoreContext) -> None:
        self.ctx = ctx

    @hookimpl(trylast=True)
    def receiver_session_authorize(self, request: SessionRequest) -> AuthDecision:
        """Everyone needs the PIN when one is set and approval when it is on; a wrong meeting ID is denied."""
        sessions = self.ctx.sessions
        if request.meeting_id is not None and not sessions.meeting_matches(request.meeting_id):
            return AuthDecision.deny("wrong meeting ID")
        return AuthDecision.challenge(pin=sessions.pin.required, approval=self.ctx.core_config.session.approval)
