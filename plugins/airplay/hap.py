"""HomeKit pairing for AirPlay 2 senders, sans-I/O: transient pair-setup (SRP-6a, 3072-bit group,
SHA-512, username ``Pair-Setup``, PIN ``3939``) and the ChaCha20-Poly1305 framing of the
encrypted control and event channels.

Transient pairing ends after M4: both sides derive the channel keys from the SRP session key
``K`` with HKDF-SHA512. Normal pairing (M5/M6, pair-verify, stored controller keys) is not
implemented yet, so the box does not advertise it.
"""

from __future__ import annotations

import hashlib
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from srptools import SRPContext, SRPServerSession, constants

from receiver_core.errors import RemoteProtocolError

from . import tlv8
from .tlv8 import Tag

__all__ = ["AudioCipher", "TransientPairSetup", "HapChannel", "hkdf", "TRANSIENT_PIN", "FLAG_TRANSIENT"]

TRANSIENT_PIN = "3939"
FLAG_TRANSIENT = 0x10
FRAME_LIMIT = 1024
TAG_LENGTH = 16
ERROR_AUTHENTICATION = 2
_PRIME = int("".join(constants.PRIME_3072.split()), 16)


def hkdf(secret: bytes, salt: str, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA512(), length=32, salt=salt.encode(), info=info.encode()).derive(secret)


class TransientPairSetup:
    """``POST /pair-setup`` M1 -> M2, M3 -> M4. ``session_key`` is set once M3's proof checked out."""

    def __init__(self, pin: str = TRANSIENT_PIN) -> None:
        self._pin = pin
        self._server: SRPServerSession | None = None
        self._salt = b""
        self.session_key: bytes | None = None
        self.failed = False

    def handle(self, body: bytes) -> bytes:
        message = tlv8.decode(body)
        state = message.get(Tag.STATE, b"")
        if state == b"\x01":
            return self._m2(message)
        if state == b"\x03":
            return self._m4(message)
        raise RemoteProtocolError("unexpected pair-setup state")

    def _m2(self, message: dict[int, bytes]) -> bytes:
        if self._server is not None:
            raise RemoteProtocolError("pair-setup M1 repeated")
        flags = int.from_bytes(message.get(Tag.FLAGS, b"\x00")[:4], "little")
        if message.get(Tag.METHOD, b"\x00") != b"\x00" or not flags & FLAG_TRANSIENT:
            raise RemoteProtocolError("only transient pair-setup is supported", status_hint=501)
        context = SRPContext("Pair-Setup", self._pin, prime=constants.PRIME_3072,
                             generator=constants.PRIME_3072_GEN, hash_func=hashlib.sha512, bits_salt=128)
        salt = os.urandom(16)
        while salt[0] == 0:  # senders round-trip the salt through an integer: keep its length
            salt = os.urandom(16)
        self._salt = salt
        verifier = context.get_common_password_verifier(context.get_common_password_hash(salt))
        self._server = SRPServerSession(context, password_verifier=verifier)
        return tlv8.encode({Tag.STATE: b"\x02", Tag.SALT: salt, Tag.PUBLIC_KEY: self._server.public_bin})

    def _m4(self, message: dict[int, bytes]) -> bytes:
        server = self._server
        if server is None or self.session_key is not None or self.failed:
            raise RemoteProtocolError("pair-setup M3 out of order")
        client_public, proof = message.get(Tag.PUBLIC_KEY), message.get(Tag.PROOF)
        if not client_public or len(client_public) > 384 or not proof or len(proof) != 64:
            raise RemoteProtocolError("malformed pair-setup M3")
        if int.from_bytes(client_public, "big") % _PRIME == 0:
            raise RemoteProtocolError("invalid SRP public key")
        server.process(client_public.hex(), self._salt.hex())
        if not server.verify_proof(proof.hex()):
            self.failed = True
            return tlv8.encode({Tag.STATE: b"\x04", Tag.ERROR: bytes([ERROR_AUTHENTICATION])})
        self.session_key = server.key_bin
        return tlv8.encode({Tag.STATE: b"\x04", Tag.PROOF: server.key_proof_hash_bin})


class HapChannel:
    """``len (u16 LE, <= 1024) ‖ ChaCha20-Poly1305(frame) ‖ tag``, AAD = the length, nonce = 4 zero
    bytes ‖ u64 LE counter per direction. ``feed`` returns the plaintext of every whole frame."""

    def __init__(self, encrypt_key: bytes, decrypt_key: bytes) -> None:
        self._out = ChaCha20Poly1305(encrypt_key)
        self._in = ChaCha20Poly1305(decrypt_key)
        self._out_counter = 0
        self._in_counter = 0
        self._buffer = bytearray()

    @classmethod
    def receiver_side(cls, secret: bytes, salt: str, sender_write_info: str, sender_read_info: str) -> HapChannel:
        """Key names are from the sender's view: the box decrypts with its Write key."""
        return cls(hkdf(secret, salt, sender_read_info), hkdf(secret, salt, sender_write_info))

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        out = bytearray()
        while len(self._buffer) >= 2:
            length = int.from_bytes(self._buffer[:2], "little")
            if length > FRAME_LIMIT:
                raise RemoteProtocolError("encrypted frame too long")
            if len(self._buffer) < 2 + length + TAG_LENGTH:
                break
            aad = bytes(self._buffer[:2])
            sealed = bytes(self._buffer[2:2 + length + TAG_LENGTH])
            del self._buffer[:2 + length + TAG_LENGTH]
            try:
                out += self._in.decrypt(_nonce(self._in_counter), sealed, aad)
            except InvalidTag:
                raise RemoteProtocolError("encrypted frame does not authenticate") from None
            self._in_counter += 1
        return bytes(out)

    def seal(self, data: bytes) -> bytes:
        out = bytearray()
        for start in range(0, len(data), FRAME_LIMIT):
            frame = data[start:start + FRAME_LIMIT]
            aad = len(frame).to_bytes(2, "little")
            out += aad + self._out.encrypt(_nonce(self._out_counter), frame, aad)
            self._out_counter += 1
        return bytes(out)


def _nonce(counter: int) -> bytes:
    return struct.pack("<IQ", 0, counter)


class AudioCipher:
    """AirPlay 2 real-time audio: ``RTP header (12) ‖ ChaCha20-Poly1305(payload) ‖ tag (16) ‖ nonce (8)``
    with the ``shk`` key from the stream SETUP; AAD = header bytes 4..12 (timestamp, SSRC)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise RemoteProtocolError("shk must be 32 bytes")
        self._cipher = ChaCha20Poly1305(key)

    def decrypt(self, header: bytes, body: bytes) -> bytes:
        if len(body) < TAG_LENGTH + 8:
            raise RemoteProtocolError("encrypted audio packet too short")
        nonce = b"\x00" * 4 + body[-8:]
        try:
            return self._cipher.decrypt(nonce, body[:-8], header[4:12])
        except InvalidTag:
            raise RemoteProtocolError("audio packet does not authenticate") from None
