"""receiver_core: the small core of the wireless presentation receiver.

Plugins import from here: ``hookimpl``, the model values they return, ``MediaCaps`` and friends,
and the error categories.
"""

import os as _os
import signal as _signal
import sys as _sys

if _os.path.basename(_sys.argv[0] if _sys.argv else "") == "montage-receiver":
    # The box command ignores SIGHUP from its first line of our code on: the default action would
    # kill it while it imports (~0.2-0.4 s), before the event loop installs the reload handler.
    _signal.signal(_signal.SIGHUP, _signal.SIG_IGN)

from ._version import __version__  # noqa: E402 - after the signal disposition on purpose
from .app import Receiver  # noqa: E402
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
from .hookspecs import hookimpl
from .media.caps import MediaCaps, MediaEnded, MediaPacket, MediaSource, QueueSource
from .model import (
    Admission,
    AuthDecision,
    IdleState,
    Layout,
    ListenerSpec,
    NetChange,
    NetInterface,
    Overlay,
    OverlayKind,
    P2PDeviceConfig,
    PluginManifest,
    Rect,
    Route,
    Screen,
    ServiceAdvertisement,
    SessionRequest,
    Tile,
    WfdSubelement,
)

__all__ = [
    "__version__",
    "Receiver",
    "hookimpl",
    "MediaCaps",
    "MediaEnded",
    "MediaPacket",
    "MediaSource",
    "QueueSource",
    "Admission",
    "AuthDecision",
    "IdleState",
    "Layout",
    "ListenerSpec",
    "NetChange",
    "NetInterface",
    "Overlay",
    "OverlayKind",
    "P2PDeviceConfig",
    "PluginManifest",
    "Rect",
    "Route",
    "Screen",
    "ServiceAdvertisement",
    "SessionRequest",
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
