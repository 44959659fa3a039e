"""AirPlay 2 pieces: TLV8, transient SRP pair-setup, HAP framing, shk audio, SETUP plists."""

from __future__ import annotations

import hashlib
import os
import plistlib
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st
from receiver_plugins.airplay import ap2, tlv8
from receiver_plugins.airplay.hap import AudioCipher, HapChannel, TransientPairSetup, hkdf
from receiver_plugins.airplay.tlv8 import Tag
from srptools import SRPClientSession, SRPContext, constants

from receiver_core.errors import RemoteProtocolError


def test_tlv8_fragments_long_values() -> None:
    value = bytes(range(256)) * 2
    encoded = tlv8.encode({Tag.STATE: b"\x01", Tag.PUBLIC_KEY: value})
    assert encoded[3] == Tag.PUBLIC_KEY and encoded[4] == 255  # split into 255-byte items
    assert tlv8.decode(encoded) == {Tag.STATE: b"\x01", Tag.PUBLIC_KEY: value}


@pytest.mark.parametrize("data", [b"\x06", b"\x06\x05ab", b"\x06\x01\x01\x06\x01\x01", bytes(5000)])
def test_tlv8_refuses(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        tlv8.decode(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_tlv8_and_pair_setup(data: bytes) -> None:
    try:
        tlv8.decode(data)
    except RemoteProtocolError:
        pass
    try:
        TransientPairSetup().handle(data)
    except RemoteProtocolError:
        pass


def client(pin: str) -> SRPClientSession:
    context = SRPContext("Pair-Setup", pin, prime=constants.PRIME_3072, generator=constants.PRIME_3072_GEN,
                         hash_func=hashlib.sha512)
    return SRPClientSession(context)


def run_pair_setup(pin: str) -> tuple[TransientPairSetup, dict[int, bytes], SRPClientSession]:
    server = TransientPairSetup()
    m2 = tlv8.decode(server.handle(tlv8.encode({Tag.METHOD: b"\x00", Tag.STATE: b"\x01", Tag.FLAGS: b"\x10"})))
    assert m2[Tag.STATE] == b"\x02" and len(m2[Tag.SALT]) == 16 and len(m2[Tag.PUBLIC_KEY]) == 384
    session = client(pin)
    session.process(m2[Tag.PUBLIC_KEY].hex(), m2[Tag.SALT].hex())
    m3 = {Tag.STATE: b"\x03", Tag.PUBLIC_KEY: session.public_bin, Tag.PROOF: session.key_proof_bin}
    return server, tlv8.decode(server.handle(tlv8.encode(m3))), session


def test_transient_pair_setup_with_3939() -> None:
    server, m4, session = run_pair_setup("3939")
    assert m4[Tag.STATE] == b"\x04" and Tag.ERROR not in m4
    assert m4[Tag.PROOF] == session.key_proof_hash_bin and server.session_key == session.key_bin


def test_wrong_pin_fails_and_cannot_retry() -> None:
    server, m4, _ = run_pair_setup("1234")
    assert m4[Tag.ERROR] == b"\x02" and server.session_key is None
    with pytest.raises(RemoteProtocolError):
        server.handle(tlv8.encode({Tag.STATE: b"\x03", Tag.PUBLIC_KEY: b"\x01" * 384, Tag.PROOF: bytes(64)}))


def test_only_transient_pairing() -> None:
    with pytest.raises(RemoteProtocolError):
        TransientPairSetup().handle(tlv8.encode({Tag.METHOD: b"\x00", Tag.STATE: b"\x01"}))


def sender_frames(key: bytes, messages: list[bytes]) -> bytes:
    """The sender's framing, written from the notes: u16 LE length as AAD, 4 zero bytes + u64 LE counter."""
    cipher = ChaCha20Poly1305(key)
    return b"".join(struct.pack("<H", len(m)) + cipher.encrypt(struct.pack("<IQ", 0, i), m, struct.pack("<H", len(m)))
                    for i, m in enumerate(messages))


def test_hap_channel_both_directions() -> None:
    secret = os.urandom(64)
    box = HapChannel.receiver_side(secret, "Control-Salt", "Control-Write-Encryption-Key",
                                   "Control-Read-Encryption-Key")
    wire = sender_frames(hkdf(secret, "Control-Salt", "Control-Write-Encryption-Key"), [b"SETUP", b"x" * 1024])
    assert b"".join(box.feed(wire[i:i + 7]) for i in range(0, len(wire), 7)) == b"SETUP" + b"x" * 1024
    sealed = box.seal(b"y" * 1500)
    read_key = ChaCha20Poly1305(hkdf(secret, "Control-Salt", "Control-Read-Encryption-Key"))
    assert read_key.decrypt(struct.pack("<IQ", 0, 0), sealed[2:2 + 1024 + 16], sealed[:2]) == b"y" * 1024
    with pytest.raises(RemoteProtocolError):  # replaying the first frame: the counter moved on
        box.feed(wire[:2 + 5 + 16])
    with pytest.raises(RemoteProtocolError):
        HapChannel(os.urandom(32), os.urandom(32)).feed(b"\xff\xff" + bytes(20))


def test_shk_audio() -> None:
    key = os.urandom(32)
    header = struct.pack(">BBHII", 0x80, 0x60, 1, 352, 7)
    nonce = struct.pack("<Q", 41)
    body = ChaCha20Poly1305(key).encrypt(b"\x00" * 4 + nonce, b"pcm", header[4:12]) + nonce
    assert AudioCipher(key).decrypt(header, body) == b"pcm"
    with pytest.raises(RemoteProtocolError):
        AudioCipher(key).decrypt(header[:4] + b"\x00" * 8, body)  # AAD covers timestamp and SSRC


def test_setup_plists() -> None:
    session = ap2.parse_setup(plistlib.dumps({"timingPort": 5000, "timingProtocol": "NTP", "deviceID": "AA"},
                                             fmt=plistlib.FMT_BINARY))
    assert isinstance(session, ap2.SessionSetup) and session.timing_port == 5000
    stream = ap2.parse_setup(plistlib.dumps({"streams": [{"type": 96, "ct": 1, "shk": bytes(32), "spf": 352,
                                                          "sr": 44100, "controlPort": 6000}]}))
    assert isinstance(stream, ap2.StreamSetup) and stream.announcement.codec == "pcm_s16be"
    for bad in ({"timingProtocol": "PTP"}, {"streams": [{"type": 110}]}, {"streams": [{"type": 96, "ct": 1}]},
                {"streams": [{"type": 96, "ct": 4, "shk": bytes(32)}]}, ["list"]):
        with pytest.raises(RemoteProtocolError):
            ap2.parse_setup(plistlib.dumps(bad))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_setup_plists(data: bytes) -> None:
    try:
        ap2.parse_setup(b"bplist00" + data)
    except RemoteProtocolError:
        pass
