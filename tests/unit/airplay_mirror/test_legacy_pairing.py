"""Legacy pairing (feature bit 27) from the sender's side as the notes describe it (§4.1)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st
from receiver_plugins.airplay.identity import Identity, load_or_create
from receiver_plugins.airplay.legacy_pairing import LegacyPairing, is_legacy_pair_setup, is_legacy_pair_verify

from receiver_core.errors import RemoteProtocolError

IDENTITY = Identity(Ed25519PrivateKey.generate())


def raw(key: object) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)  # type: ignore[attr-defined,no-any-return]


def ctr(secret: bytes) -> Cipher[modes.CTR]:
    return Cipher(algorithms.AES(hashlib.sha512(b"Pair-Verify-AES-Key" + secret).digest()[:16]),
                  modes.CTR(hashlib.sha512(b"Pair-Verify-AES-IV" + secret).digest()[:16]))


def run(tmp_path: Path, forge: bool = False) -> tuple[LegacyPairing, bytes]:
    identity = load_or_create(tmp_path)
    box = LegacyPairing(identity)
    sender, ephemeral = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
    assert box.pair_setup(raw(sender.public_key())) == identity.public_key
    body = b"\x01\x00\x00\x00" + raw(ephemeral.public_key()) + raw(sender.public_key())
    assert is_legacy_pair_verify(body, None) and not is_legacy_pair_verify(body, "4")
    reply = box.pair_verify(body)
    box_x, secret = reply[:32], ephemeral.exchange(X25519PublicKey.from_public_bytes(reply[:32]))
    Ed25519PublicKey.from_public_bytes(identity.public_key).verify(ctr(secret).decryptor().update(reply[32:]),
                                                                   box_x + raw(ephemeral.public_key()))
    encryptor = ctr(secret).encryptor()
    encryptor.update(bytes(64))
    signer = Ed25519PrivateKey.generate() if forge else sender
    second = b"\x00\x00\x00\x00" + encryptor.update(signer.sign(raw(ephemeral.public_key()) + box_x))
    assert box.pair_verify(second) == b""
    return box, secret


def test_legacy_pairing_round_trip(tmp_path: Path) -> None:
    box, secret = run(tmp_path)
    assert box.shared_secret == secret
    assert is_legacy_pair_setup(bytes(32), None) and not is_legacy_pair_setup(bytes(32), "3")


def test_forged_signature_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RemoteProtocolError, match="bad signature"):
        run(tmp_path, forge=True)


def test_out_of_order(tmp_path: Path) -> None:
    box = LegacyPairing(load_or_create(tmp_path))
    with pytest.raises(RemoteProtocolError):
        box.pair_verify(bytes(68))
    with pytest.raises(RemoteProtocolError):
        box.pair_setup(bytes(31))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=60, max_size=70), max_size=3))
def test_fuzz_legacy_pair_verify(bodies: list[bytes]) -> None:
    box = LegacyPairing(IDENTITY)
    for body in bodies:
        try:
            box.pair_verify(body)
        except RemoteProtocolError:
            pass
    assert box.shared_secret is None
