"""A test certificate authority that Chromium trusts the way an organisation's CA is trusted: added
to the NSS database of the (temporary) home directory Chromium runs with (``certutil`` from Debian's
``libnss3-tools``). No certificate error is ignored."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERTUTIL = "/usr/bin/certutil"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca_and_server(workdir: Path, address: str) -> tuple[Path, Path, Path]:
    """``(ca.pem, server-cert.pem, server-key.pem)``: a CA and a server certificate for ``address``."""
    workdir.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("montage test CA")).issuer_name(_name("montage test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    server = (x509.CertificateBuilder().subject_name(_name("turn.box.test")).issuer_name(ca.subject)
              .public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
                             critical=False)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    paths = workdir / "ca.pem", workdir / "server-cert.pem", workdir / "server-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(paths[2], 0o600)
    return paths


def home_trusting(workdir: Path, ca: Path) -> Path:
    """A home directory whose NSS database (``~/.pki/nssdb``, what Chromium on Linux reads) trusts ``ca``."""
    if not os.access(CERTUTIL, os.X_OK):
        pytest.fail(f"{CERTUTIL} missing: scripts/test installs the Debian 'libnss3-tools' package")
    home = workdir / "home"
    db = home / ".pki" / "nssdb"
    shutil.rmtree(home, ignore_errors=True)
    db.mkdir(parents=True)
    subprocess.run([CERTUTIL, "-N", "-d", f"sql:{db}", "--empty-password"], check=True, timeout=30,
                   capture_output=True)
    subprocess.run([CERTUTIL, "-A", "-d", f"sql:{db}", "-n", "montage test CA", "-t", "C,,", "-i", str(ca)],
                   check=True, timeout=30, capture_output=True)
    return home
