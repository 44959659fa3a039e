"""Built-in authorization: box PIN, optional moderator approval, meeting ID check. Essential."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._version import __version__
from ..hookspecs import hookimpl
from ..model import AuthDecision, PluginManifest, SessionRequest

if TYPE_CHECKING:
    from ..app import Receiver

manifest = PluginManifest(name="pin_auth", display_name="PIN and approval", version=__version__,
                          provides=("box PIN (off/fixed/rotating)", "moderator approval", "meeting ID check"))


@hookimpl(trylast=True)
def receiver_session_authorize(receiver: Receiver, request: SessionRequest) -> AuthDecision:
    """Everyone needs the PIN when one is set and approval when it is on; a wrong meeting ID is denied."""
    if request.meeting_id is not None and not receiver.sessions.meeting.matches(request.meeting_id):
        return AuthDecision.deny("wrong meeting ID")
    return AuthDecision.challenge(pin=receiver.sessions.pin.required, approval=receiver.config.session.approval)
