"""``POST /reverse``: the AirPlay 1 event channel ("PTTH"), sans-I/O parts and the registry.

A video sender opens a second connection, sends ``POST /reverse`` with ``Upgrade: PTTH/1.0`` and
its ``X-Apple-Session-ID``, and gets ``101 Switching Protocols``; from then on the *box* sends
HTTP requests on that connection (``POST /event`` with an XML plist: ``category`` video,
``state`` loading/playing/paused/stopped, ``sessionID``) and the sender answers them. The
requests of the same session (``/play``, ``/rate`` ...) arrive on the other connection with the same
``X-Apple-Session-ID``; the registry joins the two. [src: airplay-spec ``video/http_requests.md``,
UxPlay ``lib/raop.c``]

What comes back on a reversed connection is the sender's answers to our events: the box discards
it without parsing or buffering (``DiscardedAnswers``), counting bytes.
"""

from __future__ import annotations

import plistlib
from collections.abc import Callable

from ..rtsp import Request, RequestParser

__all__ = ["ReverseChannels", "DiscardedAnswers", "event_request", "STATES", "MAX_SESSION_ID", "is_upgrade"]

STATES = ("loading", "playing", "paused", "stopped")
MAX_SESSION_ID = 128  # a UUID in practice
MAX_CHANNELS = 64


def is_upgrade(upgrade: str | None, session_id: str | None) -> bool:
    """Whether a ``POST /reverse`` asks for the PTTH upgrade with a usable session id."""
    return ((upgrade or "").strip().upper().startswith("PTTH/1.0") and session_id is not None
            and 0 < len(session_id) <= MAX_SESSION_ID and session_id.isprintable())


def event_request(state: str, session_id: str, number: int) -> bytes:
    """One ``POST /event`` from the box to the sender."""
    if state not in STATES:
        raise ValueError(f"unknown event state {state!r}")
    body = plistlib.dumps({"category": "video", "sessionID": number, "state": state}, fmt=plistlib.FMT_XML)
    head = ["POST /event HTTP/1.1", "Content-Type: text/x-apple-plist+xml", f"Content-Length: {len(body)}",
            f"X-Apple-Session-ID: {session_id}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class DiscardedAnswers(RequestParser):
    """Stands in for the request parser of a reversed connection: the sender's answers are dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def feed(self, data: bytes) -> list[Request]:
        self.bytes += len(data)
        return []


class ReverseChannels:
    """Session id -> a writer to that sender's reversed connection (at most ``MAX_CHANNELS``)."""

    def __init__(self) -> None:
        self._writers: dict[str, Callable[[bytes], None]] = {}
        self._numbers: dict[str, int] = {}
        self.sent = 0

    def add(self, session_id: str, write: Callable[[bytes], None]) -> bool:
        if session_id not in self._writers and len(self._writers) >= MAX_CHANNELS:
            return False
        self._writers[session_id] = write
        return True

    def remove(self, session_id: str, write: Callable[[bytes], None]) -> None:
        if self._writers.get(session_id) == write:
            del self._writers[session_id]
            self._numbers.pop(session_id, None)

    def send(self, session_id: str | None, state: str) -> bool:
        """Tell the sender of ``session_id`` the new state, if it opened a reverse channel."""
        write = self._writers.get(session_id) if session_id is not None else None
        if write is None or session_id is None:
            return False
        number = self._numbers.get(session_id, 0)
        self._numbers[session_id] = number + 1
        write(event_request(state, session_id, number))
        self.sent += 1
        return True

    def __len__(self) -> int:
        return len(self._writers)
