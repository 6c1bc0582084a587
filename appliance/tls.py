"""The box's fallback certificate and the server contexts built from
certificates.

The box certificate of ``[tls]`` or, when none is named, a self-signed one
made once in ``<state>/tls/`` is what every listener serves until ACME has
issued a certificate for the name asked (:mod:`appliance.certs`), and for
clients that send no server name. Contexts allow TLS 1.2 and 1.3 only, with
forward-secret AEAD suites (:data:`CIPHERS`; TLS 1.3 suites are all AEAD).
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

log = logging.getLogger(__name__)


def self_signed(directory: Path, hostname: str, *, days: int = 825) -> tuple[Path, Path]:
    """Make (or reuse) a self-signed certificate for ``hostname``."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path, key_path = directory / "box.crt", directory / "box.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(hostname), x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    tmp_key = key_path.with_suffix(".key.tmp")
    fd = os.open(tmp_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
    cert_path.with_suffix(".crt.tmp").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp_key, key_path)
    os.replace(cert_path.with_suffix(".crt.tmp"), cert_path)
    log.info("made a self-signed certificate for %s in %s", hostname, directory)
    return cert_path, key_path


#: TLS 1.2 suites: forward secrecy (ECDHE) and AEAD only. No DH parameters
#: are loaded, so DHE suites could not be chosen anyway.
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A server context: TLS 1.2+, :data:`CIPHERS`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.set_ciphers(CIPHERS)
    ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx


def context_from_pem(chain_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """:func:`server_context` for a chain and key held in memory.

    The stdlib loads certificates from files only: the PEM goes through an
    anonymous memory file (``memfd``), so a key from the database never
    touches the disk.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.set_ciphers(CIPHERS)
    load_pem(ctx, chain_pem, key_pem)
    return ctx


def load_pem(ctx: ssl.SSLContext, chain_pem: bytes, key_pem: bytes) -> None:
    """``ctx.load_cert_chain`` from memory (see :func:`context_from_pem`);
    handshakes started later present the new certificate."""
    fd = os.memfd_create("tls", os.MFD_CLOEXEC)
    try:
        os.write(fd, chain_pem.rstrip(b"\n") + b"\n" + key_pem)
        path = f"/proc/self/fd/{fd}"
        ctx.load_cert_chain(path, path)
    finally:
        os.close(fd)


def openssl_context(chain_pem: bytes, key_pem: bytes) -> object:
    """A pyOpenSSL server context (for Twisted's listeners) with the same
    protocol floor and suites as :func:`server_context`."""
    from OpenSSL.crypto import FILETYPE_PEM
    from twisted.internet import ssl as tssl

    certs = split_pem(chain_pem)
    if not certs:
        raise ValueError("no certificate in the chain")
    leaf = tssl.Certificate.loadPEM(certs[0])
    extra = [tssl.Certificate.loadPEM(c).original for c in certs[1:]]
    key = tssl.KeyPair.load(key_pem, format=FILETYPE_PEM)
    options = tssl.CertificateOptions(
        privateKey=key.original,
        certificate=leaf.original,
        extraCertChain=extra or None,
        raiseMinimumTo=tssl.TLSVersion.TLSv1_2,
        acceptableCiphers=tssl.AcceptableCiphers.fromOpenSSLCipherString(CIPHERS),
    )
    return options.getContext()


def split_pem(chain_pem: bytes) -> list[bytes]:
    """The certificates of a PEM chain, leaf first."""
    marker = b"-----END CERTIFICATE-----"
    parts = []
    for chunk in chain_pem.split(marker)[:-1]:
        start = chunk.find(b"-----BEGIN CERTIFICATE-----")
        if start >= 0:
            parts.append(chunk[start:] + marker + b"\n")
    return parts
