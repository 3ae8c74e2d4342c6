"""TLS material for the embedded broker's SASL_SSL listener: a local CA and a server certificate.

``alphapanda broker start --security sasl_ssl`` makes them once under ``DATA_DIR/broker/tls``:
``ca.pem`` is what clients trust (``KAFKA__SSL_CAFILE``), ``server.pem`` holds the broker's
PKCS#8 key and its certificate chain, the one-file PEM keystore Kafka reads (KIP-651). The CA's
key is kept beside them (mode 0600) only so that a later start can sign for a new host name.
Keys never leave the folder. The ``cryptography`` package does the work (no ``openssl`` CLI).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TlsFiles", "ensure_tls", "make_ca"]

VALID_DAYS = 825  # what browsers still accept for a server certificate; plenty for a local broker


@dataclass(frozen=True)
class TlsFiles:
    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def server(self) -> Path:
        return self.folder / "server.pem"

    @property
    def hosts_file(self) -> Path:
        return self.folder / "server.hosts"


def _key():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str):
    from cryptography.x509.oid import NameOID
    from cryptography import x509

    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Alpha Panda"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    os.chmod(path, 0o600)
    path.write_bytes(data)


def make_ca(folder: Path, common_name: str = "Alpha Panda local CA") -> TlsFiles:
    """A fresh self-signed CA in ``folder`` (``ca.pem``, ``ca.key``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    files = TlsFiles(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name)).issuer_name(_name(common_name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_private(files.ca_key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    files.ca.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


def _san(host: str):
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def ensure_tls(folder: Path, hosts: list[str]) -> TlsFiles:
    """The CA (made once) and a server certificate valid for ``hosts`` (remade when they change)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    files = TlsFiles(folder)
    if not (files.ca.exists() and files.ca_key.exists()):
        make_ca(folder)
    names = sorted({*hosts, "localhost", "127.0.0.1"})
    if files.server.exists() and files.hosts_file.exists() and files.hosts_file.read_text().split() == names:
        return files
    ca_cert = x509.load_pem_x509_certificate(files.ca.read_bytes())
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0])).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName([_san(h) for h in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    _write_private(files.server, pem_key + cert.public_bytes(serialization.Encoding.PEM)
                   + ca_cert.public_bytes(serialization.Encoding.PEM))
    files.hosts_file.write_text("\n".join(names) + "\n")
    return files
