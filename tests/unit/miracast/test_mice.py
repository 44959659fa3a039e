"""MS-MICE messages: the SOURCE_READY captured from GND 0.91.0, the spec example, bounds and refusals."""

from __future__ import annotations

import pytest
from receiver_plugins.miracast.mice import Command, MiceError, MiceFramer, TlvType, build_message, parse_message

from receiver_core import RemoteProtocolError

from .captures import mice_source_ready

SPEC_EXAMPLE = bytes.fromhex(
    "003d0101" "00001e" + "Dummy1-Kabylake".encode("utf-16-le").hex() + "0200021c44"
    "030010" "91f4abe9eff5464aaee269722aed11b5")


def test_gnd_source_ready_with_bom() -> None:
    message = parse_message(mice_source_ready())
    assert message.command is Command.SOURCE_READY
    assert message.friendly_name == "vm"  # the byte-order mark is stripped
    assert message.rtsp_port == 7236
    assert message.source_id == b"GnomeMICEDisplay"
    assert not message.wants_encryption


def test_spec_example() -> None:
    message = parse_message(SPEC_EXAMPLE)
    assert (message.friendly_name, message.rtsp_port, len(message.source_id)) == ("Dummy1-Kabylake", 7236, 16)


def test_framer_whole_coalesced_byte_by_byte() -> None:
    stop = build_message(Command.STOP_PROJECTION, [])
    stream = mice_source_ready() + SPEC_EXAMPLE + stop
    assert [m.command for m in MiceFramer().feed(stream)] == [Command.SOURCE_READY, Command.SOURCE_READY,
                                                             Command.STOP_PROJECTION]
    framer = MiceFramer()
    one_by_one = [m for i in range(len(stream)) for m in framer.feed(stream[i:i + 1])]
    assert one_by_one == MiceFramer().feed(stream)


def test_build_round_trip_and_security_options() -> None:
    data = build_message(Command.SESSION_REQUEST, [(TlvType.SECURITY_OPTIONS, b"\x03"), (0x7F, b"unknown")])
    message = parse_message(data)
    assert message.command is Command.SESSION_REQUEST and message.wants_encryption and message.wants_pin


@pytest.mark.parametrize("data", [
    b"\x00\x03\x01\x01",  # size < 4
    b"\x00\x04\x02\x01",  # version 2
    b"\x00\x04\x01\x09",  # unknown command
    b"\x00\x08\x01\x01\x02\x00\x05\x1c",  # TLV overruns the message
    b"\x00\x0a\x01\x01\x02\x00\x02\x1c\x44\x00",  # a dangling byte after the last TLV
    b"\x00\x09\x01\x01\x02\x00\x02\x00\x00",  # RTSP port 0
    b"\x00\x08\x01\x01\x00\x00\x01\x41",  # odd-length UTF-16 name
])
def test_bad_messages_raise_typed_errors(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        MiceFramer().feed(data)


def test_size_bounded_before_buffering() -> None:
    with pytest.raises(MiceError, match="out of bounds"):
        MiceFramer().feed(b"\xff\xff")
