"""TLS for the admin API when it binds beyond loopback.

The admin's certificate and key (``[status] tls_cert`` / ``tls_key``) are used when given.
Otherwise a self-signed ECDSA P-256 certificate is made with ``cryptography`` on first start and
kept in ``<state_dir>/admin-tls/`` (directory 0700, ``key.pem`` and ``cert.pem`` 0600); it is
renewed when it expires within 30 days or cannot be read. Clients pin its SHA-256 fingerprint,
which the log and ``/api/status`` show.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ..errors import ConfigError

__all__ = ["TlsIdentity", "certificate_path", "fingerprint", "load_or_create", "pinned_get", "pinned_request"]

log = logging.getLogger(__name__)

VALID_DAYS = 3650
RENEW_BEFORE = datetime.timedelta(days=30)


class TlsIdentity:
    """Certificate and key files plus the server context made from them."""

    def __init__(self, cert: Path, key: Path, *, generated: bool) -> None:
        self.cert = cert
        self.key = key
        self.generated = generated
        pem = cert.read_bytes()
        self.fingerprint = fingerprint(x509.load_pem_x509_certificate(pem))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        return context


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, as colon-separated upper-case hex."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _usable(cert_path: Path, key_path: Path) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc - RENEW_BEFORE > datetime.datetime.now(datetime.UTC)


def _self_signed(box_name: str, addresses: list[str]) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    host = socket.gethostname() or "localhost"
    common = (box_name.strip() or host)[:64]
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName(host), x509.DNSName(host + ".local")]
    for address in ["127.0.0.1", "::1", *addresses]:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            continue
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "montage-receiver (self-signed)")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def load_or_create(state_dir: Path, *, cert: str = "", key: str = "", box_name: str = "",
                   addresses: list[str] | None = None) -> TlsIdentity:
    """The admin's files when configured (checked now), else the stored or a new self-signed pair."""
    if cert or key:
        identity = TlsIdentity(Path(cert), Path(key), generated=False)
        try:
            identity.server_context()
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError("status.tls_cert", f"cannot use {cert} with {key}: {exc}") from None
        return identity
    cert_path = certificate_path(state_dir, "")
    key_path = cert_path.with_name("key.pem")
    folder = cert_path.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    generated = False
    if not _usable(cert_path, key_path):
        cert_pem, key_pem = _self_signed(box_name, addresses or [])
        _write_private(key_path, key_pem)
        _write_private(cert_path, cert_pem)
        generated = True
    for path in (cert_path, key_path):
        os.chmod(path, 0o600)
    identity = TlsIdentity(cert_path, key_path, generated=generated)
    if generated:
        log.info("admin API: made a self-signed TLS certificate, SHA-256 %s", identity.fingerprint)
    return identity


def pinned_get(host: str, port: int, path: str, cert_path: Path, *, timeout: float = 3.0) -> bytes:
    """GET over TLS from a box whose certificate must be exactly the one in ``cert_path``; non-200 raises."""
    status, body = pinned_request(host, port, "GET", path, cert_path, timeout=timeout)
    if status != 200:
        raise OSError(f"HTTP {status}: {body[:200]!r}")
    return body


def pinned_request(host: str, port: int, method: str, path: str, cert_path: Path, *, body: bytes | None = None,
                   headers: dict[str, str] | None = None, timeout: float = 3.0) -> tuple[int, bytes]:
    """One request over TLS to a box whose certificate must be exactly the one in ``cert_path`` (the
    CLI's way to reach its own box: no CA and no host name involved, the certificate itself is pinned)."""
    import http.client

    expected = x509.load_pem_x509_certificate(cert_path.read_bytes()).public_bytes(serialization.Encoding.DER)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # replaced by the exact comparison below
    connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    try:
        connection.connect()
        assert isinstance(connection.sock, ssl.SSLSocket)
        if connection.sock.getpeercert(binary_form=True) != expected:
            raise ssl.SSLError(f"the API on {host}:{port} does not present the certificate in {cert_path}")
        host_header = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        connection.request(method, path, body=body, headers={"Host": host_header, **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def certificate_path(state_dir: Path, configured: str) -> Path:
    """Where the API's certificate is: the admin's, or the self-signed one in the state dir."""
    return Path(configured) if configured else state_dir / "admin-tls" / "cert.pem"
