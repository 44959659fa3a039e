"""Meeting IDs: one per meeting, new when the room goes idle."""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable

__all__ = ["MeetingIds", "valid_meeting_id"]


def valid_meeting_id(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9]{4,12}", value) is not None


class MeetingIds:
    """The current meeting ID. ``issue(previous)`` asks plugins first (``receiver_meeting_id``)."""

    def __init__(self, issue: Callable[[str | None], str | None] | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        self._issue = issue
        self._on_change = on_change
        self.current: str = ""
        self.regenerate()

    def regenerate(self) -> str:
        previous = self.current or None
        candidate = self._issue(previous) if self._issue is not None else None
        if not valid_meeting_id(candidate) or candidate == previous:
            candidate = _random_id(previous)
        self.current = candidate  # type: ignore[assignment]
        if self._on_change is not None:
            self._on_change()
        return self.current

    def matches(self, candidate: str | None) -> bool:
        """Constant-time comparison with the current ID (spaces ignored)."""
        if not candidate:
            return False
        return hmac.compare_digest(candidate.replace(" ", "").encode(), self.current.encode())


def _random_id(previous: str | None) -> str:
    while True:
        value = f"{secrets.randbelow(900000) + 100000}"
        if value != previous:
            return value
