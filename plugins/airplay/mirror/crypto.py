"""Mirror stream decryption, sans-I/O: both key schedules of the protocol notes (§1.2, §1.3).

Legacy (UxPlay-style senders, after legacy pairing and FairPlay): the 16-byte ``aeskey`` a
FairPlay provider recovers from ``ekey`` is hashed with the pair-verify shared secret
(``SHA-512(aeskey ‖ ecdh_secret)[:16]``), then ``SHA-512("AirPlayStreamKey<id>" ‖ key')[:16]``
and ``SHA-512("AirPlayStreamIV<id>" ‖ key')[:16]`` with the stream connection id in unsigned
decimal give AES-128-CTR key and IV. The keystream runs on across packets (partial blocks carry
over), so one decryptor lives as long as the TCP connection.

HomeKit (AirPlay 2 pairing, no ``ekey``): **reported by UxPlay PR #336, rairplay and doubletake,
NOT verified against a real iPhone or Mac.** Key = HKDF-SHA512(shared secret, salt
``"DataStream-Salt<id>"``, info ``"DataStream-Output-Encryption-Key"``); ChaCha20-Poly1305 per
video packet, nonce = 4 zero bytes ‖ 8-byte little-endian packet counter, AAD = the 128-byte
header, the 16-byte tag at the end of the payload. ``HomeKitMirrorCipher.describe_first`` gives
what a debug log may show to confirm it on a device (header bytes, key fingerprints), never keys.

Only video packets (type 0) are encrypted; codec packets travel in clear in both modes.
"""

from __future__ import annotations

import hashlib
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from receiver_core.errors import RemoteProtocolError

__all__ = ["LegacyMirrorCipher", "HomeKitMirrorCipher", "legacy_stream_keys", "homekit_stream_key",
           "hash_aes_key", "key_id", "TAG_LENGTH"]

TAG_LENGTH = 16
MAX_STREAM_CONNECTION_ID = 2**64 - 1


def key_id(key: bytes) -> str:
    """A short, one-way fingerprint to tell keys apart in logs (never the key)."""
    return hashlib.sha256(b"montage-key-id" + key).hexdigest()[:8]


def _stream_id(stream_connection_id: int) -> bytes:
    if not 0 <= stream_connection_id <= MAX_STREAM_CONNECTION_ID:
        raise RemoteProtocolError("streamConnectionID is not an unsigned 64-bit integer")
    return str(stream_connection_id).encode()


def hash_aes_key(aes_key: bytes, ecdh_secret: bytes | None) -> bytes:
    """``aeskey'``: the FairPlay key hashed with the legacy pair-verify secret (skipped without one)."""
    if len(aes_key) != 16:
        raise RemoteProtocolError("the stream AES key is not 16 bytes")
    if ecdh_secret is None:
        return aes_key
    return hashlib.sha512(aes_key + ecdh_secret).digest()[:16]


def legacy_stream_keys(hashed_aes_key: bytes, stream_connection_id: int) -> tuple[bytes, bytes]:
    """AES-128-CTR key and IV of one mirror stream."""
    sid = _stream_id(stream_connection_id)
    key = hashlib.sha512(b"AirPlayStreamKey" + sid + hashed_aes_key).digest()[:16]
    iv = hashlib.sha512(b"AirPlayStreamIV" + sid + hashed_aes_key).digest()[:16]
    return key, iv


def homekit_stream_key(shared_secret: bytes, stream_connection_id: int,
                       info: str = "DataStream-Output-Encryption-Key") -> bytes:
    """The sender-to-receiver mirror key of the HomeKit mode (reported, unverified)."""
    salt = b"DataStream-Salt" + _stream_id(stream_connection_id)
    return HKDF(algorithm=hashes.SHA512(), length=32, salt=salt, info=info.encode()).derive(shared_secret)


class LegacyMirrorCipher:
    """One continuous AES-128-CTR keystream per mirror connection (encrypts or decrypts alike)."""

    mode = "aes-ctr"

    def __init__(self, key: bytes, iv: bytes) -> None:
        self._context = Cipher(algorithms.AES(key), modes.CTR(iv)).decryptor()
        self.key_ids = (key_id(key), key_id(iv))

    def decrypt(self, header: bytes, payload: bytes) -> bytes:
        return self._context.update(payload)

    encrypt = decrypt


class HomeKitMirrorCipher:
    """ChaCha20-Poly1305 per video packet (reported layout, unverified; see the module docstring)."""

    mode = "chacha20-poly1305"

    def __init__(self, key: bytes) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._counter = 0
        self.key_ids = (key_id(key),)

    def _nonce(self) -> bytes:
        nonce = b"\x00\x00\x00\x00" + struct.pack("<Q", self._counter)
        self._counter += 1
        return nonce

    def decrypt(self, header: bytes, payload: bytes) -> bytes:
        if len(payload) < TAG_LENGTH:
            raise RemoteProtocolError("encrypted mirror packet shorter than its tag")
        try:
            return self._aead.decrypt(self._nonce(), payload, header)
        except InvalidTag:
            raise RemoteProtocolError("mirror packet does not authenticate (HomeKit key or nonce wrong)") from None

    def encrypt(self, header: bytes, payload: bytes) -> bytes:
        """What the sender does (the emulated sender uses it); ``header`` must announce the sealed size."""
        return self._aead.encrypt(self._nonce(), payload, header)

    def describe_first(self, header: bytes) -> str:
        return f"first header {header[:32].hex()}, key id {self.key_ids[0]}, nonce counter 0 (LE at bytes 4..12)"
