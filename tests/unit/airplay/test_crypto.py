"""RAOP et=1: RSA-OAEP key unwrap and per-packet AES-128-CBC with the IV reset and the tail clear.

The AirPort Express key is not shipped with the project, so these tests wrap with a fresh key."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from receiver_plugins.airplay.raop_crypto import PacketDecryptor, unwrap_aes_key

from receiver_core.errors import RemoteProtocolError


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def oaep() -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)


def sender_encrypt(key: bytes, iv: bytes, payload: bytes) -> bytes:
    whole = len(payload) & ~0xF
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return enc.update(payload[:whole]) + enc.finalize() + payload[whole:]


def test_unwrap_then_decrypt_packets_independently(rsa_key: rsa.RSAPrivateKey) -> None:
    aes_key, iv = os.urandom(16), os.urandom(16)
    assert unwrap_aes_key(rsa_key, rsa_key.public_key().encrypt(aes_key, oaep())) == aes_key
    decryptor = PacketDecryptor(aes_key, iv)
    packets = [os.urandom(n) for n in (5, 16, 100, 1411)]
    # the IV is reset for every packet: decrypting them out of order gives the same plaintexts
    for payload in reversed(packets):
        assert decryptor.decrypt(sender_encrypt(aes_key, iv, payload)) == payload
    assert decryptor.decrypt(b"tail") == b"tail"  # under one block: clear


def test_bad_wrapped_keys(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(RemoteProtocolError):
        unwrap_aes_key(rsa_key, b"short")
    with pytest.raises(RemoteProtocolError):
        unwrap_aes_key(rsa_key, os.urandom(256))
    with pytest.raises(RemoteProtocolError):  # a key that is not AES-128
        unwrap_aes_key(rsa_key, rsa_key.public_key().encrypt(os.urandom(32), oaep()))
