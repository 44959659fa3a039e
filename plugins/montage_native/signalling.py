"""The native protocol's signalling messages: versioned, transport-neutral JSON, sans-I/O.

One JSON object per message, ``{"v": 1, "type": "<kind>", ...}``. The same objects travel over the
box's WebSocket today and may travel over another transport (XMPP) later: nothing here knows about
sockets, clocks or aiohttp. ``parse_client`` turns untrusted text into one typed message or raises
``SignallingError``; ``encode`` turns a box message into text.

Every size a peer controls is bounded before use: the raw text, the SDP, the number of SDP lines,
media sections and candidates, names, tokens and reasons.
"""

from __future__ import annotations

import enum
import json
import re
from typing import Any

import attrs

from receiver_core.errors import RemoteProtocolError

__all__ = [
    "VERSION",
    "Limits",
    "LIMITS",
    "ErrorCode",
    "Notice",
    "SignallingError",
    "Join",
    "Offer",
    "Candidate",
    "Bye",
    "Joined",
    "Answer",
    "Moderation",
    "Error",
    "ClientMessage",
    "BoxMessage",
    "parse_client",
    "encode",
    "check_sdp",
]

VERSION = 1


@attrs.frozen
class Limits:
    """Upper bounds on everything a client sends (characters unless said otherwise)."""

    message: int = 96 * 1024
    sdp: int = 64 * 1024
    sdp_lines: int = 1500
    sdp_line: int = 2048
    media_sections: int = 4
    sdp_candidates: int = 64
    candidate: int = 512
    mid: int = 32
    mline_index: int = 15
    name: int = 64
    meeting_id: int = 16
    pin: int = 16
    token: int = 64
    reason: int = 128


LIMITS = Limits()


class ErrorCode(enum.Enum):
    """Why the box refused or ended something; the join page shows one plain message per code."""

    BAD_MESSAGE = "bad-message"
    UNSUPPORTED_VERSION = "unsupported-version"
    WRONG_MEETING = "wrong-meeting"
    PIN_REQUIRED = "pin-required"
    WRONG_PIN = "wrong-pin"
    LOCKED_OUT = "locked-out"
    BOX_FULL = "box-full"
    REJECTED = "rejected"
    BLOCKED = "blocked"
    UNSUPPORTED_MEDIA = "unsupported-media"
    TIMEOUT = "timeout"
    INTERNAL = "internal"


class Notice(enum.Enum):
    """Moderation and admission news the box pushes to a client."""

    WAITING_APPROVAL = "waiting-approval"
    QUEUED = "queued"
    ON_SCREEN = "on-screen"
    REMOVED = "removed"


class SignallingError(RemoteProtocolError):
    """A client message the box cannot accept; ``code`` goes back to the client in an ``error``."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.BAD_MESSAGE) -> None:
        self.code = code
        super().__init__(message, status_hint=400)


# ------------------------------------------------------------------------------------------ validators

_MEETING_RE = re.compile(r"[0-9]{1,16}")
_PIN_RE = re.compile(r"[0-9]{1,16}")
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _bounded_text(limit: int, *, allow_empty: bool = True) -> Any:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str):
            raise SignallingError(f"{attribute.name} must be a string")
        if len(value) > limit:
            raise SignallingError(f"{attribute.name} longer than {limit} characters")
        if not allow_empty and not value:
            raise SignallingError(f"{attribute.name} must not be empty")
        if _CONTROL_RE.search(value):
            raise SignallingError(f"{attribute.name} contains control characters")
    return check


def _matches(pattern: re.Pattern[str], what: str, *, optional: bool = False) -> Any:
    def check(_inst: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise SignallingError(f"{what} is malformed")
    return check


def _int_range(low: int, high: int, *, optional: bool = False) -> Any:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        if type(value) is not int or not low <= value <= high:
            raise SignallingError(f"{attribute.name} must be an integer in {low}..{high}")
    return check


def check_sdp(sdp: Any, limits: Limits = LIMITS) -> None:
    """Bound an SDP before any SDP parser sees it: size, lines, media sections, candidates."""
    if not isinstance(sdp, str):
        raise SignallingError("sdp must be a string")
    if len(sdp) > limits.sdp:
        raise SignallingError(f"sdp longer than {limits.sdp} characters")
    if not sdp.startswith("v=0"):
        raise SignallingError("sdp does not start with v=0", ErrorCode.UNSUPPORTED_MEDIA)
    lines = sdp.splitlines()
    if len(lines) > limits.sdp_lines:
        raise SignallingError(f"sdp has more than {limits.sdp_lines} lines")
    media = candidates = 0
    for line in lines:
        if len(line) > limits.sdp_line:
            raise SignallingError(f"sdp line longer than {limits.sdp_line} characters")
        if "\x00" in line:
            raise SignallingError("sdp contains NUL")
        if line.startswith("m="):
            media += 1
        elif line.startswith("a=candidate:"):
            candidates += 1
    if media == 0:
        raise SignallingError("sdp has no media section", ErrorCode.UNSUPPORTED_MEDIA)
    if media > limits.media_sections:
        raise SignallingError(f"sdp has more than {limits.media_sections} media sections",
                              ErrorCode.UNSUPPORTED_MEDIA)
    if candidates > limits.sdp_candidates:
        raise SignallingError(f"sdp has more than {limits.sdp_candidates} candidates")


def _sdp(_inst: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
    check_sdp(value)


# ------------------------------------------------------------------------------- client -> box messages


@attrs.frozen
class Join:
    """Ask to present: meeting ID and PIN as shown on the box, a display name, a stable token."""

    type = "join"
    meeting_id: str = attrs.field(validator=_matches(_MEETING_RE, "meeting ID"))
    name: str = attrs.field(validator=_bounded_text(LIMITS.name))
    client_token: str = attrs.field(validator=_matches(_TOKEN_RE, "client token"))
    pin: str | None = attrs.field(default=None, repr=False, validator=_matches(_PIN_RE, "PIN", optional=True))


@attrs.frozen
class Offer:
    """The browser's complete offer (it waits for ICE gathering; candidates may still trickle)."""

    type = "offer"
    sdp: str = attrs.field(validator=_sdp, repr=False)


@attrs.frozen
class Candidate:
    """A trickled ICE candidate; an empty ``candidate`` marks the end of candidates."""

    type = "candidate"
    candidate: str = attrs.field(validator=_bounded_text(LIMITS.candidate))
    sdp_mid: str | None = attrs.field(default=None, validator=attrs.validators.optional(_bounded_text(LIMITS.mid)))
    sdp_mline_index: int | None = attrs.field(default=None,
                                              validator=_int_range(0, LIMITS.mline_index, optional=True))

    def __attrs_post_init__(self) -> None:
        if self.candidate and not self.candidate.startswith("candidate:"):
            raise SignallingError("candidate does not start with 'candidate:'")


@attrs.frozen
class Bye:
    """Either side leaves; ``reason`` is informative only."""

    type = "bye"
    reason: str = attrs.field(default="", validator=_bounded_text(LIMITS.reason))


ClientMessage = Join | Offer | Candidate | Bye

# ------------------------------------------------------------------------------- box -> client messages


@attrs.frozen
class Joined:
    """The core admitted the client (on screen or queued); ICE servers for its peer connection."""

    type = "joined"
    session_id: str
    state: str
    ice_servers: tuple[dict[str, Any], ...] = ()


@attrs.frozen
class Answer:
    """The box's answer; ``view_back`` says what became of the page's receive-only video section:
    ``none`` (it had none), ``on`` (the room's screen comes in it), ``full`` (``max_viewers`` watch
    already), ``off`` (view-back is turned off on this box)."""

    type = "answer"
    sdp: str = attrs.field(repr=False)
    view_back: str = "none"


@attrs.frozen
class Moderation:
    type = "moderation"
    notice: Notice
    message: str = ""


@attrs.frozen
class Error:
    """A refusal; ``fatal`` errors are followed by the box closing the connection."""

    type = "error"
    code: ErrorCode
    message: str
    fatal: bool = True
    retry_after: float | None = None


BoxMessage = Joined | Answer | Moderation | Error | Bye

# ------------------------------------------------------------------------------------------ wire forms

# wire name -> (class, {wire key: attribute name}, required wire keys)
_CLIENT: dict[str, tuple[type, dict[str, str], frozenset[str]]] = {
    "join": (Join, {"meetingId": "meeting_id", "name": "name", "clientToken": "client_token", "pin": "pin"},
             frozenset({"meetingId", "name", "clientToken"})),
    "offer": (Offer, {"sdp": "sdp"}, frozenset({"sdp"})),
    "candidate": (Candidate, {"candidate": "candidate", "sdpMid": "sdp_mid", "sdpMLineIndex": "sdp_mline_index"},
                  frozenset({"candidate"})),
    "bye": (Bye, {"reason": "reason"}, frozenset()),
}


def _no_constants(name: str) -> Any:
    raise SignallingError(f"JSON constant {name} not allowed")


def parse_client(text: str | bytes, limits: Limits = LIMITS) -> ClientMessage:
    """One client message from untrusted text; raises ``SignallingError`` with a code."""
    if len(text) > limits.message:
        raise SignallingError(f"message longer than {limits.message} bytes")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise SignallingError("message is not UTF-8") from None
    try:
        obj = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise SignallingError("message is not JSON") from None
    if not isinstance(obj, dict):
        raise SignallingError("message is not a JSON object")
    if obj.get("v") != VERSION:
        raise SignallingError(f"protocol version {VERSION} expected", ErrorCode.UNSUPPORTED_VERSION)
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in _CLIENT:
        raise SignallingError("unknown message type")
    cls, keys, required = _CLIENT[kind]
    extra = set(obj) - set(keys) - {"v", "type"}
    if extra:
        raise SignallingError(f"unknown field(s) in {kind}: {', '.join(sorted(extra))[:80]}")
    missing = required - set(obj)
    if missing:
        raise SignallingError(f"{kind} lacks {', '.join(sorted(missing))}")
    try:
        message: ClientMessage = cls(**{attr: obj[wire] for wire, attr in keys.items() if wire in obj})
        return message
    except TypeError:
        raise SignallingError(f"malformed {kind}") from None


def _wire(message: BoxMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"v": VERSION, "type": message.type}
    if isinstance(message, Joined):
        out.update(sessionId=message.session_id, state=message.state, iceServers=list(message.ice_servers))
    elif isinstance(message, Answer):
        out.update(sdp=message.sdp, viewBack=message.view_back)
    elif isinstance(message, Moderation):
        out.update(notice=message.notice.value, message=message.message)
    elif isinstance(message, Error):
        out.update(code=message.code.value, message=message.message, fatal=message.fatal)
        if message.retry_after is not None:
            out["retryAfter"] = round(message.retry_after, 1)
    elif isinstance(message, Bye):
        out.update(reason=message.reason)
    else:  # pragma: no cover - the union is closed
        raise TypeError(f"not a box message: {message!r}")
    return out


def encode(message: BoxMessage) -> str:
    """The JSON text of a box message."""
    return json.dumps(_wire(message), separators=(",", ":"))
