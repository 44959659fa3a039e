"""Legacy AirPlay pairing (UxPlay/RPiPlay style, feature bit 27), sans-I/O. Used by legacy screen
mirroring: its X25519 secret hashes the FairPlay stream key (``mirror/crypto.hash_aes_key``).

``POST /pair-setup``: the sender's Ed25519 public key (32 bytes) -> the box's (32 bytes).
``POST /pair-verify`` #1: ``01 00 00 00 ‖ sender X25519 (32) ‖ sender Ed25519 (32)`` -> box X25519
(32) ‖ the box's Ed25519 signature over ``box X25519 ‖ sender X25519``, AES-128-CTR encrypted
from keystream offset 0 (key/IV = SHA-512 of ``Pair-Verify-AES-Key``/``-IV`` ‖ secret, first 16).
``POST /pair-verify`` #2: ``00 00 00 00 ‖ encrypted sender signature`` (keystream offset 64) over
``sender X25519 ‖ box X25519``; a bad signature ends the connection.

No PIN is involved: legacy pairing authenticates nothing by itself (the box PIN, when on, is still
asked for as the RTSP password).
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from receiver_core.errors import RemoteProtocolError

from .identity import Identity

__all__ = ["LegacyPairing", "is_legacy_pair_setup", "is_legacy_pair_verify", "legacy_cipher"]

KEY_LENGTH = 32
VERIFY_LENGTH = 68


def is_legacy_pair_setup(body: bytes, hkp_header: str | None) -> bool:
    """A 32-byte raw key and no ``X-Apple-HKP`` header (HomeKit pair-setup bodies are TLV8)."""
    return hkp_header is None and len(body) == KEY_LENGTH


def is_legacy_pair_verify(body: bytes, hkp_header: str | None) -> bool:
    return hkp_header is None and len(body) == VERIFY_LENGTH and body[0] in (0, 1) and body[1:4] == b"\x00\x00\x00"


def legacy_cipher(secret: bytes) -> Cipher[modes.CTR]:
    key = hashlib.sha512(b"Pair-Verify-AES-Key" + secret).digest()[:16]
    iv = hashlib.sha512(b"Pair-Verify-AES-IV" + secret).digest()[:16]
    return Cipher(algorithms.AES(key), modes.CTR(iv))


def _raw(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class LegacyPairing:
    """One control connection's legacy pairing. ``shared_secret`` is set once pair-verify #2 checked out."""

    def __init__(self, identity: Identity) -> None:
        self._identity = identity
        self._sender_ed25519: bytes | None = None
        self._ephemeral: X25519PrivateKey | None = None
        self._sender_x25519 = b""
        self._secret = b""
        self.shared_secret: bytes | None = None

    def pair_setup(self, body: bytes) -> bytes:
        if len(body) != KEY_LENGTH:
            raise RemoteProtocolError("legacy pair-setup body is not a 32-byte key")
        self._sender_ed25519 = body
        return self._identity.public_key

    def pair_verify(self, body: bytes) -> bytes:
        if len(body) != VERIFY_LENGTH:
            raise RemoteProtocolError("legacy pair-verify body is not 68 bytes")
        if body[0] == 1:
            return self._verify_1(body[4:36], body[36:68])
        return self._verify_2(body[4:68])

    def _verify_1(self, sender_x25519: bytes, sender_ed25519: bytes) -> bytes:
        if self._ephemeral is not None:
            raise RemoteProtocolError("legacy pair-verify repeated")
        if self._sender_ed25519 is not None and sender_ed25519 != self._sender_ed25519:
            raise RemoteProtocolError("legacy pair-verify with another key than pair-setup")
        self._sender_ed25519 = sender_ed25519
        self._ephemeral = X25519PrivateKey.generate()
        try:
            self._secret = self._ephemeral.exchange(X25519PublicKey.from_public_bytes(sender_x25519))
        except ValueError:
            raise RemoteProtocolError("invalid X25519 key in pair-verify") from None
        self._sender_x25519 = sender_x25519
        box_x25519 = _raw(self._ephemeral.public_key())
        signature = self._identity.sign(box_x25519 + sender_x25519)
        return box_x25519 + legacy_cipher(self._secret).encryptor().update(signature)

    def _verify_2(self, encrypted_signature: bytes) -> bytes:
        if self._ephemeral is None or self._sender_ed25519 is None or self.shared_secret is not None:
            raise RemoteProtocolError("legacy pair-verify #2 out of order")
        decryptor = legacy_cipher(self._secret).decryptor()
        decryptor.update(bytes(64))  # the box's signature used the first 64 keystream bytes
        signature = decryptor.update(encrypted_signature)
        box_x25519 = _raw(self._ephemeral.public_key())
        try:
            Ed25519PublicKey.from_public_bytes(self._sender_ed25519).verify(signature,
                                                                            self._sender_x25519 + box_x25519)
        except (InvalidSignature, ValueError):
            raise RemoteProtocolError("legacy pair-verify: bad signature", status_hint=470) from None
        self.shared_secret = self._secret
        return b""
