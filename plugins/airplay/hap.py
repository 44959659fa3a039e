"""HomeKit pairing for AirPlay 2 senders, sans-I/O: pair-setup (SRP-6a, 3072-bit group, SHA-512,
username ``Pair-Setup``; password ``3939`` for transient pairing or the box PIN), pair-verify, and
the ChaCha20-Poly1305 framing of the encrypted control and event channels.

Transient pairing ends after M4: both sides derive the channel keys from the SRP session key
``K`` with HKDF-SHA512. Normal pairing goes on with M5/M6 (Ed25519 long-term keys exchanged
under ChaCha20-Poly1305); later connections run pair-verify (X25519) and derive the channel
keys from its shared secret.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from srptools import SRPContext, SRPServerSession, constants

from receiver_core.errors import RemoteProtocolError

from . import tlv8
from .identity import Identity
from .tlv8 import Tag

__all__ = ["AudioCipher", "PairSetup", "PairVerify", "HapChannel", "hkdf", "TRANSIENT_PIN", "FLAG_TRANSIENT"]

TRANSIENT_PIN = "3939"
FLAG_TRANSIENT = 0x10
FRAME_LIMIT = 1024
TAG_LENGTH = 16
ERROR_AUTHENTICATION = 2
_PRIME = int("".join(constants.PRIME_3072.split()), 16)


def hkdf(secret: bytes, salt: str, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA512(), length=32, salt=salt.encode(), info=info.encode()).derive(secret)


class PairSetup:
    """``POST /pair-setup``: M1 -> M2, M3 -> M4 and, for normal pairing, M5 -> M6.

    ``pin`` is the SRP password: ``3939`` for transient pairing while the box PIN is off, the box
    PIN otherwise. ``session_key`` is set once M3's proof checked out (transient pairing ends
    there); ``controller`` holds ``(identifier, Ed25519 public key)`` after a valid M5.
    ``proof_ok`` is ``None`` until M3, then whether the PIN was right.
    """

    def __init__(self, pin: str, identity: Identity, *, allow_transient: bool) -> None:
        self._pin = pin
        self._identity = identity
        self._allow_transient = allow_transient
        self._server: SRPServerSession | None = None
        self._salt = b""
        self.transient = False
        self.session_key: bytes | None = None
        self.proof_ok: bool | None = None
        self.controller: tuple[bytes, bytes] | None = None

    @property
    def done(self) -> bool:
        return self.controller is not None or (self.transient and self.session_key is not None)

    def handle(self, body: bytes) -> bytes:
        message = tlv8.decode(body)
        state = message.get(Tag.STATE, b"")
        if state == b"\x01":
            return self._m2(message)
        if state == b"\x03":
            return self._m4(message)
        if state == b"\x05":
            return self._m6(message)
        raise RemoteProtocolError("unexpected pair-setup state")

    def _m2(self, message: dict[int, bytes]) -> bytes:
        if self._server is not None:
            raise RemoteProtocolError("pair-setup M1 repeated")
        flags = int.from_bytes(message.get(Tag.FLAGS, b"\x00")[:4], "little")
        if message.get(Tag.METHOD, b"\x00") != b"\x00":
            raise RemoteProtocolError("unsupported pair-setup method", status_hint=501)
        self.transient = bool(flags & FLAG_TRANSIENT)
        if self.transient and not self._allow_transient:
            raise RemoteProtocolError("transient pairing is off", status_hint=470)
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
        if server is None or self.proof_ok is not None:
            raise RemoteProtocolError("pair-setup M3 out of order")
        client_public, proof = message.get(Tag.PUBLIC_KEY), message.get(Tag.PROOF)
        if not client_public or len(client_public) > 384 or not proof or len(proof) != 64:
            raise RemoteProtocolError("malformed pair-setup M3")
        if int.from_bytes(client_public, "big") % _PRIME == 0:
            raise RemoteProtocolError("invalid SRP public key")
        server.process(client_public.hex(), self._salt.hex())
        self.proof_ok = bool(server.verify_proof(proof.hex()))
        if not self.proof_ok:
            return tlv8.encode({Tag.STATE: b"\x04", Tag.ERROR: bytes([ERROR_AUTHENTICATION])})
        self.session_key = server.key_bin
        return tlv8.encode({Tag.STATE: b"\x04", Tag.PROOF: server.key_proof_hash_bin})

    def _m6(self, message: dict[int, bytes]) -> bytes:
        key = self.session_key
        if key is None or self.transient or self.controller is not None:
            raise RemoteProtocolError("pair-setup M5 out of order")
        cipher = ChaCha20Poly1305(hkdf(key, "Pair-Setup-Encrypt-Salt", "Pair-Setup-Encrypt-Info"))
        try:
            inner = tlv8.decode(cipher.decrypt(_label_nonce(b"PS-Msg05"), message.get(Tag.ENCRYPTED_DATA, b""),
                                               None))
        except InvalidTag:
            raise RemoteProtocolError("pair-setup M5 does not decrypt") from None
        identifier, ltpk, signature = inner.get(Tag.IDENTIFIER), inner.get(Tag.PUBLIC_KEY), inner.get(Tag.SIGNATURE)
        if not identifier or len(identifier) > 64 or not ltpk or len(ltpk) != 32 or not signature:
            raise RemoteProtocolError("malformed pair-setup M5")
        signed = hkdf(key, "Pair-Setup-Controller-Sign-Salt", "Pair-Setup-Controller-Sign-Info") + identifier + ltpk
        try:
            Ed25519PublicKey.from_public_bytes(ltpk).verify(signature, signed)
        except (InvalidSignature, ValueError):
            return tlv8.encode({Tag.STATE: b"\x06", Tag.ERROR: bytes([ERROR_AUTHENTICATION])})
        self.controller = (identifier, ltpk)
        accessory_id = self._identity.device_id.encode()
        accessory_signed = (hkdf(key, "Pair-Setup-Accessory-Sign-Salt", "Pair-Setup-Accessory-Sign-Info")
                            + accessory_id + self._identity.public_key)
        reply = tlv8.encode({Tag.IDENTIFIER: accessory_id, Tag.PUBLIC_KEY: self._identity.public_key,
                             Tag.SIGNATURE: self._identity.sign(accessory_signed)})
        return tlv8.encode({Tag.STATE: b"\x06",
                            Tag.ENCRYPTED_DATA: cipher.encrypt(_label_nonce(b"PS-Msg06"), reply, None)})


class PairVerify:
    """``POST /pair-verify`` M1 -> M2, M3 -> M4 for a controller paired before.

    ``known(identifier)`` returns the controller's Ed25519 key, or ``None`` if it is not (or no
    longer) paired. ``shared_secret`` is set when M3 verified; ``controller_key`` is then the
    controller's long-term public key (the session's ``client_id``).
    """

    def __init__(self, identity: Identity, known: Callable[[bytes], bytes | None]) -> None:
        self._identity = identity
        self._known = known
        self._ephemeral: X25519PrivateKey | None = None
        self._controller_public = b""
        self._shared = b""
        self.shared_secret: bytes | None = None
        self.controller_key: bytes | None = None
        self.failed = False

    def handle(self, body: bytes) -> bytes:
        message = tlv8.decode(body)
        state = message.get(Tag.STATE, b"")
        if state == b"\x01":
            return self._m2(message)
        if state == b"\x03":
            return self._m4(message)
        raise RemoteProtocolError("unexpected pair-verify state")

    def _m2(self, message: dict[int, bytes]) -> bytes:
        controller_public = message.get(Tag.PUBLIC_KEY, b"")
        if self._ephemeral is not None or len(controller_public) != 32:
            raise RemoteProtocolError("pair-verify M1 out of order or malformed")
        self._ephemeral = X25519PrivateKey.generate()
        own_public = self._ephemeral.public_key().public_bytes(serialization.Encoding.Raw,
                                                               serialization.PublicFormat.Raw)
        try:
            self._shared = self._ephemeral.exchange(X25519PublicKey.from_public_bytes(controller_public))
        except ValueError:
            raise RemoteProtocolError("invalid X25519 key") from None
        self._controller_public = controller_public
        accessory_id = self._identity.device_id.encode()
        signature = self._identity.sign(own_public + accessory_id + controller_public)
        inner = tlv8.encode({Tag.IDENTIFIER: accessory_id, Tag.SIGNATURE: signature})
        sealed = self._cipher().encrypt(_label_nonce(b"PV-Msg02"), inner, None)
        self._own_public = own_public
        return tlv8.encode({Tag.STATE: b"\x02", Tag.PUBLIC_KEY: own_public, Tag.ENCRYPTED_DATA: sealed})

    def _cipher(self) -> ChaCha20Poly1305:
        return ChaCha20Poly1305(hkdf(self._shared, "Pair-Verify-Encrypt-Salt", "Pair-Verify-Encrypt-Info"))

    def _m4(self, message: dict[int, bytes]) -> bytes:
        if self._ephemeral is None or self.shared_secret is not None or self.failed:
            raise RemoteProtocolError("pair-verify M3 out of order")
        try:
            inner = tlv8.decode(self._cipher().decrypt(_label_nonce(b"PV-Msg03"),
                                                       message.get(Tag.ENCRYPTED_DATA, b""), None))
        except InvalidTag:
            raise RemoteProtocolError("pair-verify M3 does not decrypt") from None
        identifier, signature = inner.get(Tag.IDENTIFIER, b""), inner.get(Tag.SIGNATURE, b"")
        ltpk = self._known(identifier) if 0 < len(identifier) <= 64 else None
        ok = False
        if ltpk is not None:
            try:
                Ed25519PublicKey.from_public_bytes(ltpk).verify(
                    signature, self._controller_public + identifier + self._own_public)
                ok = True
            except (InvalidSignature, ValueError):
                ok = False
        if not ok:
            self.failed = True
            return tlv8.encode({Tag.STATE: b"\x04", Tag.ERROR: bytes([ERROR_AUTHENTICATION])})
        self.shared_secret = self._shared
        self.controller_key = ltpk
        return tlv8.encode({Tag.STATE: b"\x04"})


def _label_nonce(label: bytes) -> bytes:
    return b"\x00" * 4 + label


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
