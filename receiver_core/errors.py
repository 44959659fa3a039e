"""Categorised exceptions: the core decides retry, re-pair or end-of-session by category.

Plugins subclass these categories; the host never needs a per-plugin tuple of exception types.
"""

from __future__ import annotations

__all__ = [
    "ReceiverError",
    "ConfigError",
    "PluginError",
    "NotReady",
    "AuthFailed",
    "PinRequired",
    "SessionRejected",
    "InvalidTransition",
    "MediaError",
    "UnsupportedMedia",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
]


class ReceiverError(Exception):
    """Base of every error the receiver raises on purpose."""


class ConfigError(ReceiverError):
    """Bad configuration. ``str()`` is one line: ``key.path: message``."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class PluginError(ReceiverError):
    """A plugin was refused: bad manifest, incompatible core, unknown hook, import failure."""


class NotReady(ReceiverError):
    """A dependency is not up yet (e.g. wpa_supplicant at boot); the core retries with backoff."""


class AuthFailed(ReceiverError):
    """Credentials (PIN, pairing) were wrong or the peer is locked out.

    ``retry_after`` is the number of seconds until the peer may try again, when locked out.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class PinRequired(AuthFailed):
    """The session needs the box PIN and the request carried none: the protocol should prompt."""


class SessionRejected(ReceiverError):
    """Policy said no (blocked, denied by a moderator, admission refused, preempted).

    ``reason`` is a short text shown to the sender where the protocol allows it.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class InvalidTransition(ReceiverError):
    """A session state change that the transition table does not allow: a bug in the caller."""


class MediaError(ReceiverError):
    """Media could not be set up or carried."""


class UnsupportedMedia(MediaError):
    """No decoder accepts these caps; raised when a source is linked, before any data flows."""


class ProtocolError(ReceiverError):
    """Never raised directly. ``status_hint`` suggests a protocol reply (e.g. 400 for RTSP)."""

    def __init__(self, message: str, *, status_hint: int = 400) -> None:
        if type(self) is ProtocolError:
            raise TypeError("raise LocalProtocolError or RemoteProtocolError, not ProtocolError")
        self.status_hint = status_hint
        super().__init__(message)


class LocalProtocolError(ProtocolError):
    """The receiver itself broke the protocol: a bug. Log with traceback, end the session."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol: send an error reply, end its session, no traceback."""


class HookFailed(Exception):
    """A hook implementation raised or answered wrongly (``call_first``, or a call with ``raise_errors``)."""

    def __init__(self, hook: str, plugin: str, error: BaseException | str) -> None:
        self.hook = hook
        self.plugin = plugin
        self.error = error
        super().__init__(f"{plugin}: {hook}: {describe_error(error)}")


def describe_error(error: BaseException | str) -> str:
    if isinstance(error, str):
        return error
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
