"""Core admin duties that must not be switched off: the moderation audit log. Essential.

Every moderation action and plugin registration is appended as one JSON line to
``<state_dir>/audit.log`` (mode 0600). No PIN or password ever goes there.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..context import CoreContext
from ..hookspecs import hookimpl
from ..model import PluginManifest

if TYPE_CHECKING:
    from ..session.manager import Session


class CoreAdmin:
    manifest = PluginManifest(name="core_admin", display_name="Core admin", version=__version__,
                              provides=("moderation audit log",))

    def __init__(self, ctx: CoreContext) -> None:
        self.ctx = ctx

    @property
    def path(self) -> Path:
        return Path(self.ctx.core_config.receiver.state_dir) / "audit.log"

    def append(self, entry: dict[str, Any]) -> None:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as fh:
            fh.write(json.dumps({"time": time.time(), **entry}) + "\n")

    @hookimpl
    def receiver_moderation_action(self, session: Session, action: str, actor: str) -> None:
        """Record who did what to which sender."""
        self.append({"action": action, "actor": actor, "session": session.id, "protocol": session.protocol,
                     "peer": session.peer, "name": session.name})

    @hookimpl
    def receiver_status(self) -> dict[str, Any]:
        """Where the audit log is."""
        return {"audit_log": str(self.path)}
