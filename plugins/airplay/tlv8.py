"""HomeKit TLV8, declared with construct: ``type (1) ‖ length (1) ‖ value``; values longer than
255 bytes are split into consecutive items of the same type and joined back on reading."""

from __future__ import annotations

import enum

from construct import ConstructError, GreedyBytes, GreedyRange, Int8ub, Prefixed, Struct

from receiver_core.errors import RemoteProtocolError

__all__ = ["Tag", "decode", "encode", "MAX_TLV_BYTES"]

MAX_TLV_BYTES = 4096  # the largest pairing message (M3: 384-byte key + 64-byte proof) is ~460 bytes

TlvItem = Struct("type" / Int8ub, "value" / Prefixed(Int8ub, GreedyBytes))
TlvItems = GreedyRange(TlvItem)


class Tag(enum.IntEnum):
    METHOD = 0x00
    IDENTIFIER = 0x01
    SALT = 0x02
    PUBLIC_KEY = 0x03
    PROOF = 0x04
    ENCRYPTED_DATA = 0x05
    STATE = 0x06
    ERROR = 0x07
    SIGNATURE = 0x0A
    FLAGS = 0x13


def decode(data: bytes) -> dict[int, bytes]:
    if len(data) > MAX_TLV_BYTES:
        raise RemoteProtocolError("TLV8 body too large", status_hint=413)
    try:
        items = TlvItems.parse(data)
    except ConstructError as exc:
        raise RemoteProtocolError(f"malformed TLV8: {exc}") from None
    if sum(2 + len(i.value) for i in items) != len(data):
        raise RemoteProtocolError("truncated TLV8 item")
    out: dict[int, bytes] = {}
    previous: int | None = None
    for item in items:
        if item.type == previous and len(out[item.type]) % 255 == 0:
            out[item.type] += item.value  # continuation of a fragmented value
        elif item.type in out:
            raise RemoteProtocolError(f"TLV8 tag {item.type} repeated")
        else:
            out[item.type] = bytes(item.value)
        previous = item.type
    return out


def encode(values: dict[int, bytes]) -> bytes:
    items = []
    for tag, value in values.items():
        chunks = [value[i:i + 255] for i in range(0, len(value), 255)] or [b""]
        items += [{"type": int(tag), "value": chunk} for chunk in chunks]
    return bytes(TlvItems.build(items))
