"""Typed configuration: ``setting()`` fields, the structurer, the section registry, the core sections.

Every key has a type, a default and a description. Errors are one line naming the key path:
``plugin.miracast.go_intent: must be 0..15``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import math
import os
import re
import socket
import typing
import unicodedata
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from ..attribution import current_plugin
from ..errors import ConfigError

__all__ = [
    "setting",
    "SettingError",
    "structure",
    "unstructure",
    "SectionRegistry",
    "SectionSpec",
    "ReceiverSection",
    "SessionSection",
    "StatusSection",
    "DisplaySection",
    "AudioSection",
    "NetworkSection",
    "PluginsSection",
    "DecodersSection",
    "CORE_SECTIONS",
    "ROLES",
]

_NO_DEFAULT = attrs.NOTHING


class SettingError(ValueError):
    """Raised inside a section class (``__attrs_post_init__``) to blame one key of that section."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}")


def setting(
    default: Any = _NO_DEFAULT,
    description: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    min: float | None = None,  # noqa: A002 - reads naturally at call sites
    max: float | None = None,  # noqa: A002
    choices: tuple[Any, ...] | None = None,
    secret: bool = False,
    check: Callable[[Any], str | None] | None = None,
) -> Any:
    """An attrs field with the metadata the structurer, ``config show`` and the docs use.

    ``check(value)`` returns an error text or ``None``. ``secret`` values are redacted in every
    output and never logged.
    """
    metadata = {
        "description": description,
        "min": min,
        "max": max,
        "choices": choices,
        "secret": secret,
        "check": check,
    }
    if factory is not None:
        return attrs.field(factory=factory, metadata=metadata, repr=not secret)
    return attrs.field(default=default, metadata=metadata, repr=not secret)


# ------------------------------------------------------------------------------------------ structure


def structure(cls: type, data: Any, path: str) -> Any:
    """Build an instance of the attrs class ``cls`` from TOML data; errors name the key path."""
    if not isinstance(data, Mapping):
        raise ConfigError(path, "must be a table")
    fields = attrs.fields_dict(cls)
    hints = typing.get_type_hints(cls)
    for key in sorted(data):
        if key not in fields:
            raise ConfigError(join_key(path, key), "unknown key")
    values = {}
    for name, field in fields.items():
        if name in data:
            values[name] = _convert(hints[name], data[name], join_key(path, name), field.metadata)
    try:
        return cls(**values)
    except SettingError as exc:
        raise ConfigError(join_key(path, exc.key), exc.message) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(path, str(exc)) from None


def join_key(path: str, key: str) -> str:
    """``path.key`` with the key quoted when it is not a plain name."""
    if not re.fullmatch(r"[A-Za-z0-9_*?.-]+", key):
        key = json.dumps(key)  # keys from the file may hold anything: keep errors on one line
    return f"{path}.{key}" if path else key


def _type_name(tp: Any) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _convert(tp: Any, value: Any, path: str, meta: Mapping[str, Any]) -> Any:
    converted: Any
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _convert(non_none[0], value, path, meta)
        raise TypeError(f"unsupported union type at {path}")
    if attrs.has(tp):
        return structure(tp, value, path)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(path, "expected a list")
        item_type = args[0]
        converted = tuple(_convert(item_type, v, f"{path}[{i}]", {}) for i, v in enumerate(value))
    elif origin in (dict, Mapping, typing.Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(path, "expected a table")
        value_type = args[1] if args else Any
        converted = {str(k): _convert(value_type, v, join_key(path, str(k)), {}) for k, v in value.items()}
    elif tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected {_type_name(bool)}, got {value!r}")
        converted = value
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, f"expected an integer, got {value!r}")
        converted = value
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, f"expected a number, got {value!r}")
        converted = float(value)
        if not math.isfinite(converted):
            raise ConfigError(path, f"must be a finite number, got {value!r}")
    elif tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, f"expected a string, got {value!r}")
        converted = value
    elif tp is Any:
        converted = value
    else:
        raise TypeError(f"unsupported setting type {tp!r} at {path}")
    _check(converted, path, meta)
    return converted


_SCALARS = (bool, int, float, str)


def unsupported_type(tp: Any) -> str | None:
    """Why the config loader cannot read a field of type ``tp``, or ``None`` when it can."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp in _SCALARS or tp is Any:
        return None
    if attrs.has(tp):
        return None
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        non_none = [a for a in args if a is not type(None)]
        return None if len(non_none) == 1 and unsupported_type(non_none[0]) is None else f"{tp!r} (only X | None)"
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return unsupported_type(args[0])
        return f"{tp!r} (use tuple[X, ...])"
    if origin in (dict, Mapping, typing.Mapping):
        if args and args[0] is not str:
            return f"{tp!r} (table keys are strings)"
        return unsupported_type(args[1]) if args else None
    if origin in (list, set, frozenset):
        return f"{tp!r} (use tuple[X, ...]: settings are frozen)"
    return f"{tp!r}"


def check_section_class(cls: type, path: str) -> None:
    """Fail at declaration, naming the field, when a section uses a type the loader cannot read."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:
        raise ConfigError(path, f"cannot read the field types of {cls.__name__}: {exc}") from None
    for field in attrs.fields(cls):
        tp = hints.get(field.name, Any)
        problem = unsupported_type(tp)
        if problem is not None:
            raise ConfigError(join_key(path, field.name), f"unsupported setting type {problem}")
        if isinstance(tp, type) and attrs.has(tp):
            check_section_class(tp, join_key(path, field.name))


def _check(value: Any, path: str, meta: Mapping[str, Any]) -> None:
    low, high, choices, check = meta.get("min"), meta.get("max"), meta.get("choices"), meta.get("check")
    if low is not None or high is not None:
        if (low is not None and value < low) or (high is not None and value > high):
            if low is not None and high is not None:
                raise ConfigError(path, f"must be {_num(low)}..{_num(high)}")
            raise ConfigError(path, f"must be >= {_num(low)}" if low is not None else f"must be <= {_num(high or 0)}")
    if choices is not None and value not in choices:
        raise ConfigError(path, "must be one of " + ", ".join(repr(c) for c in choices))
    if check is not None:
        error = check(value)
        if error:
            raise ConfigError(path, error)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def unstructure(instance: Any, *, redact: bool = True) -> dict[str, Any]:
    """Back to plain TOML-able data; secrets become ``"<redacted>"`` when set and ``redact``."""
    out: dict[str, Any] = {}
    for field in attrs.fields(type(instance)):
        value = getattr(instance, field.name)
        if field.metadata.get("secret") and value and redact:
            out[field.name] = "<redacted>"
        elif attrs.has(type(value)):
            out[field.name] = unstructure(value, redact=redact)
        elif isinstance(value, tuple):
            out[field.name] = list(value)
        elif isinstance(value, Mapping):
            out[field.name] = dict(value)
        else:
            out[field.name] = value
    return out


# ----------------------------------------------------------------------------------------- registry


@attrs.frozen
class SectionSpec:
    name: str
    cls: type
    description: str
    owner: str | None


class SectionRegistry:
    """Collects ``[plugin.<name>]`` schemas from ``receiver_config_sections``."""

    def __init__(self) -> None:
        self._specs: dict[str, SectionSpec] = {}

    def add(self, name: str, cls: type, *, description: str = "") -> None:
        """Register the attrs class for ``[plugin.<name>]``; ``name`` is the plugin's own name."""
        owner = current_plugin.get()
        if not attrs.has(cls):
            raise ConfigError(f"plugin.{name}", f"section class {cls!r} is not an attrs class")
        check_section_class(cls, f"plugin.{name}")
        if owner is not None and owner != name:
            raise ConfigError(f"plugin.{name}", f"plugin {owner!r} may only register its own section [plugin.{owner}]")
        if name in self._specs:
            first = self._specs[name].owner or "?"
            raise ConfigError(f"plugin.{name}", f"section registered twice (by {first!r} and {owner or '?'!r})")
        self._specs[name] = SectionSpec(name, cls, description, owner)

    def get(self, name: str) -> SectionSpec | None:
        return self._specs.get(name)

    def __iter__(self) -> typing.Iterator[SectionSpec]:
        return iter(self._specs.values())


# -------------------------------------------------------------------------------------- core sections

ROLES = ("wired", "wifi", "ap", "p2p", "ignore")


def _default_name() -> str:
    host = socket.gethostname().split(".")[0] or "Receiver"
    return host[:40]


def _default_state_dir() -> str:
    if os.geteuid() == 0:
        return "/var/lib/montage-receiver"
    return str(Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "montage-receiver")


#: Format characters a name may keep: zero-width (non-)joiners build emoji and some scripts.
_JOINERS = {"\u200c", "\u200d"}


def unsafe_text(value: str) -> str | None:
    """What is wrong with ``value`` as one line of text shown to people, or ``None``.

    Refuses control characters (C0, DEL, C1), bidirectional and other format controls (a U+202E
    can make a name read backwards), line and paragraph separators, and lone surrogates.
    """
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc":
            return "must not contain control characters"
        if category == "Cs":
            return "must not contain lone surrogates"
        if category in ("Zl", "Zp"):
            return "must not contain line or paragraph separators"
        if category == "Cf" and char not in _JOINERS:
            return f"must not contain format characters such as U+{ord(char):04X} (bidirectional controls)"
    return None


def check_box_name(value: str) -> str | None:
    """Why ``value`` cannot be a box name (shown on screen, a DNS-SD instance name), or ``None``."""
    if not value.strip():
        return "must not be empty"
    problem = unsafe_text(value)
    if problem:
        return problem
    if len(value.encode()) > 63:
        return "must be at most 63 bytes (a DNS-SD instance name)"
    return None


def _check_readable_file(value: str) -> str | None:
    if value and not (Path(value).is_file() and os.access(value, os.R_OK)):
        return f"{value} is not a readable file"
    return None


def _check_pin(value: str) -> str | None:
    if value and not re.fullmatch(r"[0-9]{4,8}", value):
        return "must be 4 to 8 digits"
    return None


def _check_ip(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "must be an IP address"
    return None


def _check_password_hash(value: str) -> str | None:
    """``scrypt$N$r$p$salt$hash`` as made by ``hash-password``: N a power of two, sane cost, base64 parts."""
    if not value:
        return None
    wrong = "must be a hash made by 'montage-receiver hash-password'"
    parts = value.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return wrong
    _scheme, n, r, p, salt, digest = parts
    if not (n.isdigit() and r.isdigit() and p.isdigit()):
        return wrong + " (cost parameters are not numbers)"
    n_value, r_value, p_value = int(n), int(r), int(p)
    if n_value < 2 or n_value & (n_value - 1) or n_value > 2**20 or not 1 <= r_value <= 32 or not 1 <= p_value <= 16:
        return wrong + " (cost parameters out of range)"
    if 128 * r_value * n_value > 256 * 1024 * 1024:
        return wrong + " (needs more than 256 MiB to check)"
    try:
        salt_bytes = base64.b64decode(salt, validate=True)
        digest_bytes = base64.b64decode(digest, validate=True)
    except (binascii.Error, ValueError):
        return wrong + " (salt or hash is not base64)"
    if len(salt_bytes) < 8 or len(digest_bytes) < 16:
        return wrong + " (salt or hash too short)"
    return None


def _check_state_dir(value: str) -> str | None:
    """A writable directory, or one that can be created (its nearest existing parent is writable)."""
    if not value or unsafe_text(value):
        return "must be a directory path"
    path = Path(value)
    if not path.is_absolute():
        return "must be an absolute path"
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return "no existing parent directory"
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable by this user"
    return None


@attrs.frozen
class ReceiverSection:
    name: str = setting(description="Box name shown on screen and in every sender's list.", factory=_default_name,
                        check=check_box_name)
    state_dir: str = setting(description="Where keys, the block list and other state live (mode 0700); must be "
                             "a writable directory (created when missing).", factory=_default_state_dir,
                             check=_check_state_dir)


@attrs.frozen
class SessionSection:
    pin_mode: str = setting("rotating", "Box PIN: 'off', 'fixed' (the pin key) or 'rotating' (random).",
                            choices=("off", "fixed", "rotating"))
    pin: str = setting("", "The fixed PIN (4-8 digits) when pin_mode = 'fixed'.", secret=True, check=_check_pin)
    pin_length: int = setting(4, "Digits of a rotating PIN.", min=4, max=8)
    pin_rotate_minutes: int = setting(0, "Rotate the PIN every N minutes (0 = never on a timer).", min=0, max=10080)
    pin_rotate_after_session: bool = setting(True, "Rotate the PIN when a session ends.")
    pin_max_failures: int = setting(5, "Wrong PINs before a peer is locked out.", min=1, max=100)
    pin_lockout_seconds: int = setting(60, "How long a locked-out peer must wait.", min=1, max=86400)
    approval: bool = setting(False, "A moderator must approve each new sender.")
    approval_timeout_seconds: int = setting(120, "A sender waiting for approval longer than this is refused.",
                                            min=1, max=3600)
    max_presenters: int = setting(4, "Senders on screen at once.", min=1, max=4)
    admission: str = setting("newest-wins", "When the screen is full: 'newest-wins' (the oldest leaves) or 'queue'. "
                             "Only a sender that proved itself (PIN, approval, a plugin's allow) pushes a "
                             "presenter off; others queue.", choices=("newest-wins", "queue"))
    max_pending: int = setting(4, "Senders of one protocol waiting for approval at once; more are refused "
                               "(never counted against presenters).", min=1, max=64)
    max_pending_per_address: int = setting(1, "Senders from one address waiting for approval at once.",
                                           min=1, max=16)
    max_queued: int = setting(8, "Senders waiting for a free place on screen; more are refused.", min=0, max=64)

    def __attrs_post_init__(self) -> None:
        if self.pin_mode == "fixed" and not self.pin:
            raise SettingError("pin", "required when pin_mode = 'fixed'")


@attrs.frozen
class StatusSection:
    enabled: bool = setting(True, "Serve the local status/moderation API.")
    bind: str = setting("127.0.0.1", "Address of the status API. Anything but loopback needs admin_password_hash.",
                        check=_check_ip)
    port: int = setting(8470, "TCP port of the status API (0 = any free port).", min=0, max=65535)
    admin_password_hash: str = setting("", "scrypt hash from 'montage-receiver hash-password'.", secret=True,
                                       check=_check_password_hash)
    tls_cert: str = setting("", "PEM certificate for the API beyond loopback (empty: a self-signed one is made "
                                "in the state dir).", check=_check_readable_file)
    tls_key: str = setting("", "PEM private key that goes with tls_cert.", check=_check_readable_file)
    allowed_hosts: tuple[str, ...] = setting((), "Host names (besides IP addresses, localhost and this machine's "
                                                 "host name) under which browsers may reach the API.")

    def __attrs_post_init__(self) -> None:
        if not ipaddress.ip_address(self.bind).is_loopback and not self.admin_password_hash:
            raise SettingError("admin_password_hash", "required when status.bind is not a loopback address")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise SettingError("tls_key" if self.tls_cert else "tls_cert", "give both tls_cert and tls_key, or neither")


@attrs.frozen
class DisplaySection:
    backend: str = setting("auto", "'auto', 'window', 'headless', 'null' or a plugin's backend.")
    width: int = setting(1920, "Output width in pixels.", min=320, max=7680)
    height: int = setting(1080, "Output height in pixels.", min=240, max=4320)
    fps: int = setting(60, "Composites per second at most (60: every frame of four 30 fps senders, or of one "
                            "60 fps sender, is shown).", min=1, max=120)
    layout: str = setting("auto", "'auto' (1 full, 2 split, 3-4 quad), 'fullscreen', 'side-by-side' or 'quad'.",
                          choices=("auto", "fullscreen", "side-by-side", "quad"))
    camera: str = setting("inset", "Where a presenter's camera goes: 'inset' (picture-in-picture in the corner of "
                                   "its tile, a quarter of its width) or 'tile' (a tile of its own while the layout "
                                   "has room, else an inset).", choices=("inset", "tile"))
    labels: bool = setting(True, "Draw the sender name and protocol on each tile.")
    fullscreen: bool = setting(True, "Window backend: fill the screen.")
    gpu_scaling: bool = setting(True, "Window backend: when SDL's renderer is accelerated, upload each tile's frame "
                                      "at its own size and let the GPU scale it (no libswscale pass per frame); "
                                      "off: the box scales on the CPU.")
    snapshot_dir: str = setting("", "Headless backend: write a PNG of each new idle screen here ('' = off).")
    jpeg_quality: int = setting(80, "Headless backend: quality of snapshots and the MJPEG preview.", min=10, max=95)


@attrs.frozen
class AudioSection:
    backend: str = setting("auto", "'auto' (sdl when available, else null), 'sdl', 'wav' or 'null'.")
    path: str = setting("", "Output file of the wav backend.")
    sample_rate: int = setting(48000, "Output sample rate.", min=8000, max=192000)
    channels: int = setting(2, "Output channels.", min=1, max=2)

    def __attrs_post_init__(self) -> None:
        if self.backend == "wav" and not self.path:
            raise SettingError("path", "required when backend = 'wav'")


@attrs.frozen
class NetworkSection:
    roles: dict[str, str] = setting(description="Interface name pattern -> role (wired, wifi, ap, p2p, ignore). "
                                    "Unlisted: wifi if wireless, p2p if named p2p-*, else wired.", factory=dict,
                                    check=lambda v: next((f"role of {k!r} must be one of {', '.join(ROLES)}"
                                                          for k, r in v.items() if r not in ROLES), None))
    advertise_on: tuple[str, ...] = setting(("wired", "wifi", "ap"), "Roles whose interfaces get mDNS adverts.",
                                            check=lambda v: next((f"unknown role {r!r}" for r in v if r not in ROLES),
                                                                 None))
    debounce_ms: int = setting(300, "Wait this long after a netlink event before acting.", min=0, max=5000)


@attrs.frozen
class PluginsSection:
    autoload: bool = setting(True, "Load every installed receiver_core.plugins entry point.")
    disabled: tuple[str, ...] = setting((), "Plugins never imported.")
    enabled: tuple[str, ...] = setting((), "Plugins loaded when autoload = false.")
    required: tuple[str, ...] = setting((), "Requirements like 'receiver-plugin-x>=0.2'; startup fails without them.")


@attrs.frozen
class DecodersSection:
    rank: dict[str, int] = setting(description="Decoder name -> rank override (0 = never auto-pick).", factory=dict,
                                   check=lambda v: next((f"rank of {k!r} must be 0..1024" for k, r in v.items()
                                                         if not 0 <= r <= 1024), None))
    threads: int = setting(1, "Decoder threads per video stream (0 = FFmpeg's choice).", min=0, max=16)


CORE_SECTIONS: dict[str, type] = {
    "receiver": ReceiverSection,
    "session": SessionSection,
    "status": StatusSection,
    "display": DisplaySection,
    "audio": AudioSection,
    "network": NetworkSection,
    "plugins": PluginsSection,
    "decoders": DecodersSection,
}
