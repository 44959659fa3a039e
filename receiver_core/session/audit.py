"""The audit log: one JSON line per admin change (who, what, to whom, for how long), fsynced.

``<state_dir>/audit.log`` (mode 0600). Every moderation action, unblock, PIN rotation and rename
is recorded. A failed write is logged (once per cause, with a count) and shown in status; it
never stops the action itself. No PIN or password ever goes there.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from .statefile import StateWriteError, append_line

__all__ = ["AuditLog"]

log = logging.getLogger(__name__)


class AuditLog:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.written = 0
        self.failed = 0
        self.last_error: str | None = None

    def record(self, action: str, actor: str, **details: Any) -> bool:
        """Append ``{"time", "action", "actor", **details}``; False (and logged) if it could not be written."""
        entry = {"time": time.time(), "action": action, "actor": actor, **details}
        if self.path is None:
            return True
        try:
            append_line(self.path, json.dumps(entry, ensure_ascii=True, allow_nan=False, default=str))
        except (StateWriteError, ValueError) as exc:
            self.failed += 1
            if str(exc) != self.last_error:
                log.error("audit log: %s (%s by %s not recorded)", exc, action, actor)
            self.last_error = str(exc)
            return False
        self.written += 1
        if self.last_error is not None:
            log.warning("audit log: writing again after %d failed entries", self.failed)
            self.last_error = None
        return True

    def status(self) -> dict[str, Any]:
        return {"path": str(self.path) if self.path else None, "written": self.written, "failed": self.failed,
                "error": self.last_error}
