"""RAOP ``et=1`` audio encryption: the AES key arrives RSA-OAEP (SHA-1) wrapped in the SDP; each
packet is AES-128-CBC with the IV reset to ``aesiv`` for every packet and the tail that does
not fill a 16-byte block left in clear.

The unwrapping key is the AirPort Express private key. It is public knowledge (published in
2011, present in several receivers) but this project does not ship it: the box loads it from
the PEM file named by ``[plugin.airplay] rsa_key_file``. Without that file ``et=1`` is not
advertised and an ANNOUNCE with ``rsaaeskey`` is refused.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from receiver_core.errors import RemoteProtocolError

__all__ = ["PacketDecryptor", "unwrap_aes_key", "load_rsa_key"]


def load_rsa_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA private key")
    return key


def unwrap_aes_key(private_key: rsa.RSAPrivateKey, wrapped: bytes) -> bytes:
    if len(wrapped) != private_key.key_size // 8:
        raise RemoteProtocolError("rsaaeskey has the wrong length")
    try:
        key = private_key.decrypt(wrapped, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(),
                                                        label=None))
    except ValueError:
        raise RemoteProtocolError("rsaaeskey does not decrypt") from None
    if len(key) != 16:
        raise RemoteProtocolError("rsaaeskey is not an AES-128 key")
    return key


class PacketDecryptor:
    """AES-128-CBC, IV reset per packet, whole blocks only."""

    def __init__(self, key: bytes, iv: bytes) -> None:
        if len(key) != 16 or len(iv) != 16:
            raise ValueError("AES-128 key and IV are 16 bytes")
        self._cipher = Cipher(algorithms.AES(key), modes.CBC(iv))

    def decrypt(self, payload: bytes) -> bytes:
        whole = len(payload) & ~0xF
        if not whole:
            return payload
        decryptor = self._cipher.decryptor()
        return decryptor.update(payload[:whole]) + decryptor.finalize() + payload[whole:]
