"""AirPlay 2 pieces: TLV8, transient SRP pair-setup, HAP framing, shk audio, SETUP plists."""

from __future__ import annotations

import hashlib
import os
import plistlib
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st
from receiver_plugins.airplay import ap2, tlv8
from receiver_plugins.airplay.hap import AudioCipher, HapChannel, PairSetup, PairVerify, hkdf
from receiver_plugins.airplay.identity import Identity, load_or_create
from receiver_plugins.airplay.pairings import Pairings
from receiver_plugins.airplay.tlv8 import Tag
from srptools import SRPClientSession, SRPContext, constants

from receiver_core.errors import RemoteProtocolError

IDENTITY: Identity = Identity(Ed25519PrivateKey.generate())


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
        PairSetup("3939", IDENTITY, allow_transient=True).handle(data)
    except RemoteProtocolError:
        pass


def client(pin: str) -> SRPClientSession:
    context = SRPContext("Pair-Setup", pin, prime=constants.PRIME_3072, generator=constants.PRIME_3072_GEN,
                         hash_func=hashlib.sha512)
    return SRPClientSession(context)


def run_pair_setup(pin: str) -> tuple[PairSetup, dict[int, bytes], SRPClientSession]:
    server = PairSetup("3939", IDENTITY, allow_transient=True)
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


def test_transient_pairing_can_be_refused() -> None:
    with pytest.raises(RemoteProtocolError):
        PairSetup("1234", IDENTITY, allow_transient=False).handle(
            tlv8.encode({Tag.METHOD: b"\x00", Tag.STATE: b"\x01", Tag.FLAGS: b"\x10"}))


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


def raw(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)  # type: ignore[attr-defined]


def test_normal_pairing_then_pair_verify(tmp_path: Path) -> None:
    """The controller side written from the notes (M5 signature, PV-Msg nonces), against the box."""
    identity = load_or_create(tmp_path)
    server = PairSetup("1234", identity, allow_transient=False)
    m2 = tlv8.decode(server.handle(tlv8.encode({Tag.METHOD: b"\x00", Tag.STATE: b"\x01"})))
    session = client("1234")
    session.process(m2[Tag.PUBLIC_KEY].hex(), m2[Tag.SALT].hex())
    server.handle(tlv8.encode({Tag.STATE: b"\x03", Tag.PUBLIC_KEY: session.public_bin,
                               Tag.PROOF: session.key_proof_bin}))
    k = session.key_bin
    controller_key, controller_id = Ed25519PrivateKey.generate(), b"controller-1"
    signed = hkdf(k, "Pair-Setup-Controller-Sign-Salt", "Pair-Setup-Controller-Sign-Info") + controller_id
    signed += raw(controller_key.public_key())
    inner = tlv8.encode({Tag.IDENTIFIER: controller_id, Tag.PUBLIC_KEY: raw(controller_key.public_key()),
                         Tag.SIGNATURE: controller_key.sign(signed)})
    cipher = ChaCha20Poly1305(hkdf(k, "Pair-Setup-Encrypt-Salt", "Pair-Setup-Encrypt-Info"))
    m6 = tlv8.decode(server.handle(tlv8.encode({Tag.STATE: b"\x05", Tag.ENCRYPTED_DATA: cipher.encrypt(
        b"\x00" * 4 + b"PS-Msg05", inner, None)})))
    accessory = tlv8.decode(cipher.decrypt(b"\x00" * 4 + b"PS-Msg06", m6[Tag.ENCRYPTED_DATA], None))
    assert accessory[Tag.PUBLIC_KEY] == identity.public_key and server.controller is not None
    pairings = Pairings(tmp_path)
    pairings.add(*server.controller, "1234")
    assert Pairings(tmp_path).key_for(controller_id, "1234") == raw(controller_key.public_key())
    assert pairings.key_for(controller_id, "9999") is None  # the PIN changed: pair again

    def verify(signing_key: Ed25519PrivateKey) -> PairVerify:
        verifier = PairVerify(identity, lambda ident: pairings.key_for(ident, "1234"))
        ephemeral = X25519PrivateKey.generate()
        m2 = tlv8.decode(verifier.handle(tlv8.encode({Tag.STATE: b"\x01", Tag.PUBLIC_KEY: raw(ephemeral.public_key())})))
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(m2[Tag.PUBLIC_KEY]))
        key = ChaCha20Poly1305(hkdf(shared, "Pair-Verify-Encrypt-Salt", "Pair-Verify-Encrypt-Info"))
        box = tlv8.decode(key.decrypt(b"\x00" * 4 + b"PV-Msg02", m2[Tag.ENCRYPTED_DATA], None))
        Ed25519PublicKey.from_public_bytes(identity.public_key).verify(
            box[Tag.SIGNATURE], m2[Tag.PUBLIC_KEY] + box[Tag.IDENTIFIER] + raw(ephemeral.public_key()))
        proof = signing_key.sign(raw(ephemeral.public_key()) + controller_id + m2[Tag.PUBLIC_KEY])
        m3 = key.encrypt(b"\x00" * 4 + b"PV-Msg03", tlv8.encode({Tag.IDENTIFIER: controller_id,
                                                                  Tag.SIGNATURE: proof}), None)
        verifier.handle(tlv8.encode({Tag.STATE: b"\x03", Tag.ENCRYPTED_DATA: m3}))
        return verifier

    good = verify(controller_key)
    assert good.shared_secret is not None and good.controller_key == raw(controller_key.public_key())
    bad = verify(Ed25519PrivateKey.generate())  # a bad signature
    assert bad.failed and bad.shared_secret is None
    with pytest.raises(RemoteProtocolError):  # replayed M3 on the same exchange
        bad.handle(tlv8.encode({Tag.STATE: b"\x03", Tag.ENCRYPTED_DATA: b"x" * 40}))
