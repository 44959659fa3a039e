"""Frozen attrs values shared by hooks: what plugins return to the core and what the core hands them."""

from __future__ import annotations

import enum
import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    import argparse

    from .admin.client import BoxClient

__all__ = [
    "PluginManifest",
    "NetInterface",
    "NetSnapshot",
    "NetChange",
    "ServiceAdvertisement",
    "WfdSubelement",
    "P2PDeviceConfig",
    "ListenerSpec",
    "SessionRequest",
    "AuthVerdict",
    "AuthDecision",
    "AdmissionVerdict",
    "Admission",
    "Route",
    "Screen",
    "Rect",
    "StreamRole",
    "stream_key",
    "Tile",
    "Layout",
    "OverlayKind",
    "Overlay",
    "IdleState",
]


def _tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value)


@attrs.frozen
class PluginManifest:
    """What a plugin declares about itself (class attribute ``manifest`` of the plugin, or of its module).

    ``name`` must equal the entry-point name. ``provides`` lists what the plugin really implements
    today, in words an admin understands; ``plugins list`` shows it and never claims more.
    """

    name: str
    display_name: str
    version: str
    requires_core: str = ">=0.2"
    service_types: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    provides: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    summary: str = ""


# --------------------------------------------------------------------------------------------- network


@attrs.frozen
class NetInterface:
    """One network interface as the monitor last saw it.

    ``addresses`` are ``ip/prefix`` strings; ``role`` is one of wired, wifi, ap, p2p, loopback, other.
    ``up`` means administratively up *and* carrier present (operstate not DOWN).
    """

    index: int
    name: str
    role: str
    up: bool
    mac: str = ""
    kind: str = ""
    addresses: tuple[str, ...] = attrs.field(default=(), converter=_tuple)

    @property
    def ips(self) -> tuple[str, ...]:
        """Addresses without the prefix length."""
        return tuple(a.split("/", 1)[0] for a in self.addresses)

    @property
    def ipv4(self) -> tuple[str, ...]:
        return tuple(ip for ip in self.ips if ipaddress.ip_address(ip).version == 4)


@attrs.frozen
class NetSnapshot:
    """Every interface at one moment, ordered by index."""

    interfaces: tuple[NetInterface, ...] = attrs.field(default=(), converter=_tuple)

    def get(self, name: str) -> NetInterface | None:
        return next((i for i in self.interfaces if i.name == name), None)

    def with_roles(self, roles: set[str] | frozenset[str] | tuple[str, ...]) -> tuple[NetInterface, ...]:
        """Interfaces that are up, carry an address and have one of ``roles``."""
        return tuple(i for i in self.interfaces if i.up and i.addresses and i.role in roles)


@attrs.frozen
class NetChange:
    """What changed between two snapshots (names of interfaces), plus the new snapshot."""

    added: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    removed: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    changed: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    snapshot: NetSnapshot = attrs.field(factory=NetSnapshot)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


# ------------------------------------------------------------------------------------------- discovery


def _properties(value: Mapping[str, str | bytes | None]) -> tuple[tuple[str, str | bytes | None], ...]:
    return tuple(sorted(dict(value).items()))


@attrs.frozen
class ServiceAdvertisement:
    """One DNS-SD service a plugin wants published; the core owns registration.

    ``service_type`` like ``_airplay._tcp`` (no ``.local.``), ``instance`` the visible name. The
    core fills in addresses from the interface the hook was called for.
    """

    service_type: str = attrs.field()
    instance: str = attrs.field()
    port: int = attrs.field(validator=attrs.validators.and_(attrs.validators.ge(1), attrs.validators.le(65535)))
    properties: tuple[tuple[str, str | bytes | None], ...] = attrs.field(default=(), converter=_properties)

    @service_type.validator
    def _check_type(self, _attr: Any, value: str) -> None:
        parts = value.split(".")
        if len(parts) != 2 or not parts[0].startswith("_") or parts[1] not in ("_tcp", "_udp"):
            raise ValueError(f"service_type must look like '_name._tcp', got {value!r}")

    @instance.validator
    def _check_instance(self, _attr: Any, value: str) -> None:
        if not value or len(value.encode()) > 63:
            raise ValueError("instance name must be 1..63 bytes")


@attrs.frozen
class WfdSubelement:
    """One Wi-Fi Display subelement (``id`` 0..11, body without the id/length header)."""

    id: int = attrs.field(validator=[attrs.validators.ge(0), attrs.validators.le(255)])
    body: bytes = attrs.field(validator=attrs.validators.instance_of(bytes))

    def encode(self) -> bytes:
        if len(self.body) > 0xFFFF:
            raise ValueError("subelement body too long")
        return bytes([self.id]) + len(self.body).to_bytes(2, "big") + self.body


@attrs.frozen
class P2PDeviceConfig:
    """Wi-Fi Direct device settings the P2P owner writes to wpa_supplicant."""

    device_name: str
    go_intent: int = attrs.field(default=15, validator=[attrs.validators.ge(0), attrs.validators.le(15)])
    listen_channel: int = 6
    primary_device_type: bytes = bytes.fromhex("00070050f2040001")


@attrs.frozen
class ListenerSpec:
    """A socket a plugin needs; the core binds it, detects clashes and closes it on unload.

    ``factory`` is an ``asyncio.Protocol`` factory. ``port`` 0 asks for an ephemeral port; read the
    bound one back with ``receiver.listeners.port(plugin, name)``. ``host`` ``None`` binds the IPv4
    wildcard (discovery is IPv4 too); give ``"::"`` or an address to bind elsewhere.
    """

    name: str
    port: int = attrs.field(validator=[attrs.validators.ge(0), attrs.validators.le(65535)])
    factory: Callable[[], Any] = attrs.field(eq=False)
    transport: str = attrs.field(default="tcp", validator=attrs.validators.in_(("tcp", "udp")))
    host: str | None = None


# -------------------------------------------------------------------------------------------- sessions


@attrs.frozen
class SessionRequest:
    """A sender asks to present.

    ``protocol`` is the requesting plugin's name (its sessions end if it fails). ``client_id`` is a
    stable identity where the protocol has one (AirPlay pairing key, P2P device address, browser
    token); bans use it, else the address. ``pin`` is what the sender typed, if the protocol carries
    it; ``pin_verified`` is set by protocols that check the box PIN themselves (e.g. SRP pairing)
    after reporting the attempt through ``receiver.sessions.pin``.

    ``idle_timeout`` (seconds) asks the core to end the session, in every state (waiting for
    approval, queued, on screen), once the sender has been silent that long: silence is measured
    from the last media packet once media is attached, before that from the handler's
    ``last_activity()`` (monotonic time of the sender's last data) when it has one. ``None``: the
    protocol has its own liveness (a TCP connection, RTSP keep-alives).
    """

    protocol: str
    peer_address: str
    display_name: str = ""
    client_id: str | None = None
    pin: str | None = attrs.field(default=None, repr=False)
    pin_verified: bool = False
    meeting_id: str | None = None
    idle_timeout: float | None = attrs.field(default=None, validator=lambda _i, _a, v: _positive_finite(v))

    @property
    def identity(self) -> str:
        """What lockouts and bans key on: the stable id if any, else the address."""
        return f"id:{self.client_id}" if self.client_id else f"addr:{self.peer_address}"


def _positive_finite(value: float | None) -> None:
    if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"idle_timeout must be a positive finite number of seconds, not {value!r}")


class AuthVerdict(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    CHALLENGE = "challenge"


@attrs.frozen
class AuthDecision:
    """Answer of ``receiver_session_authorize``: allow, deny with a reason, or ask for PIN/approval.

    ``proven`` is False when a sender is let in without proving anything (PIN off, no approval, no
    plugin vouching for it): such a sender queues when the screen is full and never pushes a
    presenter off it ("newest wins" is for senders that passed a PIN, an approval or a plugin's
    explicit ``allow()``).
    """

    verdict: AuthVerdict
    reason: str = ""
    pin: bool = False
    approval: bool = False
    proven: bool = True

    @classmethod
    def allow(cls) -> AuthDecision:
        return cls(AuthVerdict.ALLOW)

    @classmethod
    def deny(cls, reason: str) -> AuthDecision:
        return cls(AuthVerdict.DENY, reason=reason)

    @classmethod
    def challenge(cls, *, pin: bool = False, approval: bool = False) -> AuthDecision:
        if not (pin or approval):
            return cls(AuthVerdict.ALLOW, proven=False)
        return cls(AuthVerdict.CHALLENGE, pin=pin, approval=approval)


class AdmissionVerdict(enum.Enum):
    START = "start"
    QUEUE = "queue"
    PREEMPT = "preempt"
    REJECT = "reject"


@attrs.frozen
class Admission:
    """Answer of ``receiver_session_admit``. ``victims`` are session ids ended for PREEMPT."""

    verdict: AdmissionVerdict
    victims: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    reason: str = ""

    @classmethod
    def start(cls) -> Admission:
        return cls(AdmissionVerdict.START)

    @classmethod
    def queue(cls) -> Admission:
        return cls(AdmissionVerdict.QUEUE)

    @classmethod
    def preempt(cls, *victims: str) -> Admission:
        return cls(AdmissionVerdict.PREEMPT, victims=victims)

    @classmethod
    def reject(cls, reason: str) -> Admission:
        return cls(AdmissionVerdict.REJECT, reason=reason)


# ----------------------------------------------------------------------------------------------- admin


@attrs.frozen
class Route:
    """An HTTP route a plugin mounts under ``/plugins/<name>/``.

    ``handler`` is an aiohttp handler ``async (request) -> Response``. ``public`` routes skip the
    admin password (only for pages a sender must reach, never for settings).
    """

    method: str
    path: str
    handler: Callable[..., Any] = attrs.field(eq=False)
    public: bool = False


_CLI_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")


def _cli_name(_instance: object, _attribute: object, value: str) -> None:
    if not _CLI_NAME.fullmatch(value):
        raise ValueError(f"CLI command name {value!r}: lowercase letters, digits and '-', 1-32 characters")


@attrs.frozen
class CliCommand:
    """A subcommand a plugin adds to ``montage-receiver [--config F] <plugin> <name> ...``.

    ``arguments(parser)`` declares its arguments on an ``argparse`` parser (optional);
    ``run(args, client)`` runs in the CLI process, not in the box: it gets the parsed arguments and
    a ``BoxClient`` for the running box's status API (the plugin's own admin routes are under
    ``/plugins/<name>/``), prints what it has to say and returns the exit status (0 done, non-zero
    with a one-line reason on stderr).
    """

    name: str = attrs.field(validator=_cli_name)
    help: str
    run: Callable[[argparse.Namespace, BoxClient], int] = attrs.field(eq=False)
    arguments: Callable[[argparse.ArgumentParser], None] | None = attrs.field(default=None, eq=False)


# --------------------------------------------------------------------------------------------- display


@attrs.frozen
class Screen:
    """The output surface the compositor fills."""

    width: int
    height: int
    fps: int = 30


@attrs.frozen
class Rect:
    x: int
    y: int
    width: int
    height: int


class StreamRole(enum.Enum):
    """What one video stream of a session shows (``ctx.media.attach(session, source, role=...)``).

    A session has at most one video stream per role. ``MAIN`` is what the sender shares (its
    screen): the session's tile. ``CAMERA`` is the presenter's camera: the layout policy draws it
    as a picture-in-picture inset of the session's tile, or as a tile of its own
    (``[display] camera``). Audio streams are always ``MAIN``: one per session, under the audio focus.
    """

    MAIN = "main"
    CAMERA = "camera"


def stream_key(session_id: str, stream: StreamRole = StreamRole.MAIN) -> str:
    """The display's name for one video stream: the session ID for ``MAIN``, ``<id>/<role>`` otherwise."""
    return session_id if stream is StreamRole.MAIN else f"{session_id}/{stream.value}"


@attrs.frozen
class Tile:
    """Where one video stream of a session is drawn: ``rect`` on the screen, ``z`` order (higher on top).

    ``stream`` says which of the session's streams (``StreamRole``): a camera inset is a ``CAMERA``
    tile inside the session's ``MAIN`` tile with a higher ``z``. The stream's picture is fitted into
    ``rect`` with its aspect ratio kept (letterboxed).
    """

    session_id: str
    rect: Rect
    z: int = 0
    stream: StreamRole = StreamRole.MAIN

    @property
    def key(self) -> str:
        """``stream_key(session_id, stream)``: the name of the surface this tile shows."""
        return stream_key(self.session_id, self.stream)


@attrs.frozen
class Layout:
    """Output of ``receiver_layout``: tiles plus which session is heard (``audio_focus``)."""

    tiles: tuple[Tile, ...] = attrs.field(default=(), converter=_tuple)
    audio_focus: str | None = None
    name: str = ""


class OverlayKind(enum.Enum):
    TITLE = "title"          # box name, large
    CONNECT = "connect"      # one line of "how to connect" per protocol
    PIN = "pin"              # the current PIN
    MEETING = "meeting"      # the meeting ID
    ADDRESS = "address"      # network addresses
    QR = "qr"                # ``data`` is encoded as a QR code (the browser join URL)
    BANNER = "banner"        # transient notice, also shown over active sessions


@attrs.frozen(repr=False)
class Overlay:
    """One item a plugin contributes to the idle screen or over the composite.

    The text of a ``PIN`` overlay is a secret: its repr (hook traces, logs) never shows it.
    """

    kind: OverlayKind
    text: str = ""
    data: str = ""
    order: int = 100

    def __repr__(self) -> str:
        secret = self.kind is OverlayKind.PIN
        text = "<redacted>" if secret and self.text else repr(self.text)
        data = "<redacted>" if secret and self.data else repr(self.data)
        return f"Overlay(kind={self.kind}, text={text}, data={data}, order={self.order})"


@attrs.frozen
class IdleState:
    """What ``receiver_overlays`` sees: enough to decide what to show."""

    name: str
    pin: str | None = attrs.field(repr=False)
    meeting_id: str = ""
    idle: bool = True
    addresses: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
