"""The join page's TLS: a self-signed P-256 certificate made on first run, or the admin's files.

The generated key is written 0600 (created with that mode, never wider) in the plugin's state
directory and never logged. ``tls_wrapped`` turns any stream protocol factory into one that
speaks TLS first, using only public asyncio API (``loop.start_tls``), so the socket itself can be
bound by the core's plain TCP listener.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["CERT_NAME", "KEY_NAME", "ensure_certificate", "server_context", "tls_wrapped"]

CERT_NAME = "https-cert.pem"
KEY_NAME = "https-key.pem"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def ensure_certificate(state_dir: Path, common_name: str, addresses: Sequence[str] = (), days: int = 825) -> tuple[Path, Path]:
    """Return (cert, key) paths in ``state_dir``, generating a self-signed pair if missing."""
    cert_path, key_path = state_dir / CERT_NAME, state_dir / KEY_NAME
    if cert_path.exists() and key_path.exists():
        os.chmod(key_path, 0o600)
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64] or "montage-receiver")])
    sans: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for address in ["127.0.0.1", *addresses]:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            continue
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(list(dict.fromkeys(sans))), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    state_dir.mkdir(parents=True, exist_ok=True)
    _write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


class _Holding(asyncio.Protocol):
    """Collects what TLS delivers between the handshake and the hand-over to the real protocol."""

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.eof = False
        self.lost: tuple[Exception | None] | None = None

    def data_received(self, data: bytes) -> None:
        self.data.append(data)

    def eof_received(self) -> bool:
        self.eof = True
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = (exc,)


class _TlsAcceptor(asyncio.Protocol):
    """Holds a fresh connection paused, upgrades it to TLS, then hands it to the real protocol."""

    def __init__(self, factory: Callable[[], asyncio.BaseProtocol], context: ssl.SSLContext,
                 handshake_timeout: float) -> None:
        self._factory = factory
        self._context = context
        self._timeout = handshake_timeout
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: Any) -> None:
        transport.pause_reading()  # the ClientHello stays in the kernel until start_tls reads it
        self._task = asyncio.get_running_loop().create_task(self._upgrade(transport))

    async def _upgrade(self, transport: Any) -> None:
        holding = _Holding()
        try:
            tls = await asyncio.get_running_loop().start_tls(
                transport, holding, self._context, server_side=True, ssl_handshake_timeout=self._timeout)
        except (OSError, ssl.SSLError, ConnectionError, TimeoutError):
            transport.abort()
            return
        if tls is None:
            transport.abort()
            return
        # hand over synchronously: nothing can arrive between these lines
        protocol: Any = self._factory()
        tls.set_protocol(protocol)
        protocol.connection_made(tls)
        for chunk in holding.data:
            protocol.data_received(chunk)
        if holding.eof:
            protocol.eof_received()
        if holding.lost is not None:
            protocol.connection_lost(holding.lost[0])

    def data_received(self, data: bytes) -> None:  # pragma: no cover - reading is paused
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        pass


def tls_wrapped(factory: Callable[[], asyncio.BaseProtocol], context: ssl.SSLContext,
                handshake_timeout: float = 10.0) -> Callable[[], asyncio.Protocol]:
    """A protocol factory speaking TLS (server side) in front of ``factory``'s protocols."""
    return lambda: _TlsAcceptor(factory, context, handshake_timeout)
