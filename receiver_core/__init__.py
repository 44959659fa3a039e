"""receiver_core: the small core of the wireless presentation receiver.

Everything a plugin author needs is importable from here: ``hookimpl``, ``PluginContext`` (what a
plugin gets), ``PluginManifest``, the config helpers ``setting`` and ``SectionRegistry``, the
model values hooks exchange, the media types, sessions, and the error categories. See
``docs/plugin-authors.md``; tests use ``receiver_core.testing``.
"""

import os as _os
import signal as _signal
import sys as _sys

if _os.path.basename(_sys.argv[0] if _sys.argv else "") == "montage-receiver":
    # The box command ignores SIGHUP from its first line of our code on: the default action would
    # kill it while it imports (~0.2-0.4 s), before the event loop installs the reload handler.
    _signal.signal(_signal.SIGHUP, _signal.SIG_IGN)

from ._version import __version__  # noqa: E402 - after the signal disposition on purpose
from .admin.client import BoxClient
from .config.schema import SectionRegistry, SettingError, setting
from .context import PluginContext
from .errors import (
    AuthFailed,
    ConfigError,
    LocalProtocolError,
    MediaError,
    NotReady,
    PinRequired,
    PluginError,
    ProtocolError,
    ReceiverError,
    RemoteProtocolError,
    SessionRejected,
    UnsupportedMedia,
)
from .hookspecs import hookimpl, hookspec
from .media.caps import MediaCaps, MediaEnded, MediaPacket, MediaSource, QueueSource
from .model import (
    Admission,
    AuthDecision,
    CliCommand,
    IdleState,
    Layout,
    ListenerSpec,
    NetChange,
    NetInterface,
    NetSnapshot,
    Overlay,
    OverlayKind,
    P2PDeviceConfig,
    PluginManifest,
    Rect,
    Route,
    Screen,
    ServiceAdvertisement,
    SessionRequest,
    StreamRole,
    Tile,
    WfdSubelement,
)
from .session.manager import Session, SessionHandler
from .session.state import SessionState

__all__ = [
    "__version__",
    "hookimpl",
    "hookspec",
    "PluginContext",
    "PluginManifest",
    "SectionRegistry",
    "SettingError",
    "setting",
    "MediaCaps",
    "MediaEnded",
    "MediaPacket",
    "MediaSource",
    "QueueSource",
    "Session",
    "SessionHandler",
    "SessionState",
    "Admission",
    "AuthDecision",
    "BoxClient",
    "CliCommand",
    "IdleState",
    "Layout",
    "ListenerSpec",
    "NetChange",
    "NetInterface",
    "NetSnapshot",
    "Overlay",
    "OverlayKind",
    "P2PDeviceConfig",
    "Rect",
    "Route",
    "Screen",
    "ServiceAdvertisement",
    "SessionRequest",
    "StreamRole",
    "Tile",
    "WfdSubelement",
    "ReceiverError",
    "ConfigError",
    "PluginError",
    "NotReady",
    "AuthFailed",
    "PinRequired",
    "SessionRejected",
    "MediaError",
    "UnsupportedMedia",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
]
