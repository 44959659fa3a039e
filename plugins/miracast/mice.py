"""Sans-I/O MS-MICE (Miracast over Infrastructure) control messages on TCP 7250.

``Size u16 BE (whole message) | Version u8 = 1 | Command u8 | TLV...`` with ``Type u8 | Length u16
BE | Value``. Declared with ``construct`` (interpreted, never compiled); the TLV list must end
exactly at ``Size`` (``Terminated``). ``MiceFramer`` cuts the byte stream into messages, bounding
the size before buffering. Errors are ``MiceError`` (a ``RemoteProtocolError``).
"""

from __future__ import annotations

import enum

import attrs
import construct as cs

from receiver_core import RemoteProtocolError

__all__ = ["MiceError", "Command", "TlvType", "MiceMessage", "MiceFramer", "parse_message", "build_message",
           "MAX_MESSAGE", "DEFAULT_RTSP_PORT"]

MAX_MESSAGE = 8192  # SOURCE_READY is tens of bytes; a DTLS handshake record in SECURITY_HANDSHAKE a few KiB
MAX_FRIENDLY_NAME_BYTES = 520  # 260 UTF-16 code units
DEFAULT_RTSP_PORT = 7236


class MiceError(RemoteProtocolError):
    """A MS-MICE message the sink cannot accept."""


class Command(enum.IntEnum):
    SOURCE_READY = 0x01
    STOP_PROJECTION = 0x02
    SECURITY_HANDSHAKE = 0x03
    SESSION_REQUEST = 0x04
    PIN_CHALLENGE = 0x05
    PIN_RESPONSE = 0x06


class TlvType(enum.IntEnum):
    FRIENDLY_NAME = 0x00
    RTSP_PORT = 0x02
    SOURCE_ID = 0x03
    SECURITY_TOKEN = 0x04
    SECURITY_OPTIONS = 0x05
    PIN_CHALLENGE = 0x06
    PIN_RESPONSE_REASON = 0x07


TLV = cs.Struct(
    "type" / cs.Int8ub,
    "length" / cs.Int16ub,
    "value" / cs.Bytes(cs.this.length),
)

MESSAGE = cs.Struct(
    "size" / cs.Int16ub,
    "version" / cs.Int8ub,
    "command" / cs.Int8ub,
    "tlvs" / cs.FixedSized(cs.this.size - 4, cs.Struct("items" / cs.GreedyRange(TLV), cs.Terminated)),
)


@attrs.frozen
class MiceMessage:
    command: Command
    friendly_name: str | None = None
    rtsp_port: int | None = None
    source_id: bytes | None = None
    security_options: int | None = None
    security_token: bytes | None = None

    @property
    def wants_encryption(self) -> bool:
        return bool(self.security_options and self.security_options & 0x01)

    @property
    def wants_pin(self) -> bool:
        return bool(self.security_options and self.security_options & 0x02)


def _friendly_name(value: bytes) -> str:
    if len(value) > MAX_FRIENDLY_NAME_BYTES or len(value) % 2:
        raise MiceError(f"friendly name of {len(value)} bytes is not a bounded UTF-16 string")
    encoding = "utf-16-be" if value[:2] == b"\xfe\xff" else "utf-16-le"
    try:
        text = value.decode(encoding)
    except UnicodeDecodeError:
        raise MiceError("friendly name is not UTF-16") from None
    text = text.removeprefix("\ufeff")  # GND 0.91 sends a byte-order mark
    return "".join(c for c in text if c.isprintable()).strip()


def parse_message(data: bytes) -> MiceMessage:
    """One whole message (as cut by ``MiceFramer``)."""
    if len(data) < 4 or len(data) > MAX_MESSAGE:
        raise MiceError(f"MS-MICE message of {len(data)} bytes")
    try:
        parsed = MESSAGE.parse(data)
    except cs.ConstructError as exc:
        raise MiceError(f"malformed MS-MICE message: {str(exc).splitlines()[0][:120]}") from None
    if parsed.size != len(data):
        raise MiceError(f"MS-MICE size {parsed.size} does not match {len(data)} bytes")
    if parsed.version != 1:
        raise MiceError(f"MS-MICE version {parsed.version}, expected 1")
    try:
        command = Command(parsed.command)
    except ValueError:
        raise MiceError(f"unknown MS-MICE command {parsed.command:#04x}") from None
    fields: dict[str, object] = {}
    for tlv in parsed.tlvs["items"]:
        value = bytes(tlv.value)
        if tlv.type == TlvType.FRIENDLY_NAME:
            fields["friendly_name"] = _friendly_name(value)
        elif tlv.type == TlvType.RTSP_PORT:
            if len(value) != 2 or int.from_bytes(value, "big") == 0:
                raise MiceError("RTSP port TLV is not a non-zero u16")
            fields["rtsp_port"] = int.from_bytes(value, "big")
        elif tlv.type == TlvType.SOURCE_ID:
            if not 1 <= len(value) <= 64:
                raise MiceError(f"source ID of {len(value)} bytes")
            fields["source_id"] = value
        elif tlv.type == TlvType.SECURITY_OPTIONS:
            if not value:
                raise MiceError("empty security options TLV")
            fields["security_options"] = value[0]
        elif tlv.type == TlvType.SECURITY_TOKEN:
            fields["security_token"] = value
        # other TLV types (and PIN TLVs, only valid after DTLS) are ignored
    return MiceMessage(command, **fields)  # type: ignore[arg-type]


def build_message(command: Command, tlvs: list[tuple[int, bytes]]) -> bytes:
    """Encode a message (the sink's PIN_RESPONSE, test sources)."""
    items = [{"type": t, "length": len(v), "value": v} for t, v in tlvs]
    size = 4 + sum(3 + len(v) for _t, v in tlvs)
    if size > MAX_MESSAGE:
        raise ValueError("MS-MICE message too large")
    built: bytes = MESSAGE.build({"size": size, "version": 1, "command": int(command), "tlvs": {"items": items}})
    return built


class MiceFramer:
    """Cuts the TCP 7250 stream into messages; the size is bounded before any buffering."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[MiceMessage]:
        self._buffer += data
        messages: list[MiceMessage] = []
        while len(self._buffer) >= 2:
            size = int.from_bytes(self._buffer[:2], "big")
            if size < 4 or size > MAX_MESSAGE:
                raise MiceError(f"MS-MICE message size {size} out of bounds")
            if len(self._buffer) < size:
                break
            chunk = bytes(self._buffer[:size])
            del self._buffer[:size]
            messages.append(parse_message(chunk))
        return messages
