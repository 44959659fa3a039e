"""The box's long-term AirPlay identity: an Ed25519 key kept 0600 in the plugin's state directory.

``deviceid`` (the MAC-like id senders remember) and ``pk`` (TXT and ``/info``) derive from it, so
both stay the same across restarts. The private key is never logged nor shown in status.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["Identity", "load_or_create"]

KEY_FILE = "identity.ed25519"


class Identity:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        digest = hashlib.sha256(b"montage-airplay-deviceid" + self.public_key).digest()
        # a locally administered unicast MAC: bit 1 of the first byte set, bit 0 clear
        self.device_id_bytes = bytes([(digest[0] | 0x02) & 0xFE]) + digest[1:6]
        self.pairing_id = str(uuid.UUID(bytes=hashlib.sha256(b"montage-airplay-pi" + self.public_key).digest()[:16]))

    def __repr__(self) -> str:
        return f"Identity(deviceid={self.device_id})"

    @property
    def device_id(self) -> str:
        """``aa:bb:cc:dd:ee:ff`` as in the TXT ``deviceid`` and ``/info`` ``deviceID``."""
        return ":".join(f"{b:02X}" for b in self.device_id_bytes)

    @property
    def device_id_hex(self) -> str:
        """The 12 hex digits of the ``_raop._tcp`` instance name."""
        return self.device_id_bytes.hex().upper()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


def load_or_create(state_dir: Path) -> Identity:
    path = state_dir / KEY_FILE
    if path.exists():
        raw = path.read_bytes()
        if len(raw) != 32:
            raise ValueError(f"{path} is not a 32-byte Ed25519 key; refusing to replace it silently")
        return Identity(Ed25519PrivateKey.from_private_bytes(raw))
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, raw)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return Identity(key)
