"""Core admin duties that must not be switched off: where the audit log is and whether it is written. Essential.

The audit log itself is written by the session manager (``receiver_core.session.audit``): every
moderation action, unblock, PIN rotation and rename, one fsynced JSON line each in
``<state_dir>/audit.log`` (mode 0600). No PIN or password ever goes there.
"""

from __future__ import annotations

from typing import Any

from .._version import __version__
from ..context import CoreContext
from ..hookspecs import hookimpl
from ..model import PluginManifest


class CoreAdmin:
    manifest = PluginManifest(name="core_admin", display_name="Core admin", version=__version__,
                              provides=("moderation audit log",))

    def __init__(self, ctx: CoreContext) -> None:
        self.ctx = ctx

    @hookimpl
    def receiver_status(self) -> dict[str, Any]:
        """Where the audit log is, how many entries were written and the last write error."""
        sessions = getattr(self.ctx.host(), "sessions", None)
        audit = sessions.audit.status() if sessions is not None else {}
        return {"audit_log": audit.get("path"), "audit": audit}
