"""Throwaway certificates for the DICOM TLS tests: a CA, and certificates it signs.

:func:`make_pki` writes, in a folder, a test CA (``ca.pem``), a server certificate for
``localhost`` / 127.0.0.1 (``server.pem`` + ``server.key``, for Orthanc), a client
certificate (``client.pem`` + ``client.key``, for the project) and a second CA that
signed nothing here (``other_ca.pem``: trusting it is trusting the wrong CA), and one
for another host (``elsewhere.pem`` + ``.key``: pacs.example only). Keys are
EC P-256 (quick to make); the certificates are valid for one day.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pki:
    ca: Path
    other_ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    elsewhere_cert: Path
    elsewhere_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    return path


def _write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def _leaf(cn: str, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
          names: tuple[str, ...] = ("localhost", "127.0.0.1")) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert, key


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def make_pki(folder: Path) -> Pki:
    """Write the test CA and certificates in ``folder`` (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _ca("squid test CA")
    other, _ = _ca("some other CA")
    # Both get server and client usage: Orthanc's certificate serves its SCP and its C-MOVE
    # SCU alike, and ours our SCU and our Storage SCP.
    server, server_key = _leaf("localhost", ca, ca_key)
    client, client_key = _leaf("squid", ca, ca_key)
    elsewhere, elsewhere_key = _leaf("pacs.example", ca, ca_key, ("pacs.example",))
    return Pki(_write_cert(ca, folder / "ca.pem"), _write_cert(other, folder / "other_ca.pem"),
               _write_cert(server, folder / "server.pem"),
               _write_key(server_key, folder / "server.key"),
               _write_cert(client, folder / "client.pem"),
               _write_key(client_key, folder / "client.key"),
               _write_cert(elsewhere, folder / "elsewhere.pem"),
               _write_key(elsewhere_key, folder / "elsewhere.key"))
