"""Test infrastructure for the ACME tests: Debian's ``pebble`` (a real
RFC 8555 CA with real validation) on loopback, and a small recursive-style
resolver standing in for "the Internet's DNS" of ``[acme] resolver``.

Pebble is run the way it is meant for client tests: 5% of nonces refused
(``badNonce``), authorizations reused, a new root each run (fetched from its
management API), ``PEBBLE_VA_NOSLEEP=1`` so validation starts at once, and
``-dnsserver`` pointed at our daemon's DNS port, so every DNS question
pebble asks (addresses for HTTP-01, TXT for DNS-01) is answered by us.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from dnslib import QTYPE, RR, A, NS
from dnslib.proxy import ProxyResolver
from dnslib.server import DNSServer

from tests.conftest import free_port, stop_process

PEBBLE = shutil.which("pebble") or "/usr/bin/pebble"


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def make_https_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a 127.0.0.1/localhost certificate for pebble's own HTTPS
    listeners: ``(ca.pem, cert.pem, key.pem)``."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test pebble https CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_key_pem(key))
    return paths


class Pebble:
    """One pebble process; :meth:`start` again after :meth:`stop` gives a
    new CA (new root, no accounts) on the same ports."""

    def __init__(self, workdir: Path, *, http_port: int, tls_port: int, dns_port: int, validity: int = 0):
        self.workdir = workdir
        self.ca_file, cert, key = make_https_ca(workdir / "https")
        self.port, self.management = free_port(), free_port()
        self.dns_port = dns_port
        config = {
            "pebble": {
                "listenAddress": f"127.0.0.1:{self.port}",
                "managementListenAddress": f"127.0.0.1:{self.management}",
                "certificate": str(cert),
                "privateKey": str(key),
                "httpPort": http_port,
                "tlsPort": tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
            }
        }
        if validity:
            config["pebble"]["certificateValidityPeriod"] = validity
        self.config = workdir / "pebble-config.json"
        self.config.write_text(json.dumps(config, indent=2))
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "pebble.log"

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    def start(self, timeout: float = 20) -> "Pebble":
        env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1"}
        env.pop("PEBBLE_VA_ALWAYS_VALID", None)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [PEBBLE, "-config", str(self.config), "-dnsserver", f"127.0.0.1:{self.dns_port}"],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"pebble exited {self.proc.returncode}:\n{self.log()}")
            try:
                self.get(self.directory)
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"pebble did not answer within {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        self.proc = None

    def get(self, url: str) -> bytes:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with urllib.request.urlopen(url, context=context, timeout=5) as response:
            return response.read()

    def root_pem(self) -> bytes:
        """This run's root (pebble makes a new one each start)."""
        return self.get(f"https://127.0.0.1:{self.management}/roots/0")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Internet:
    """``[acme] resolver`` for the tests: answers the names in ``fixed``
    itself (``{(name, "A"|"NS"): [values]}``; an empty list is NXDOMAIN)
    and forwards every other question to the daemon's DNS server."""

    def __init__(self, dns_port: int, fixed: dict[tuple[str, str], list[str]]):
        self.fixed = fixed
        outer = self

        class Resolver(ProxyResolver):
            def resolve(self, request, handler):  # noqa: D102 - dnslib's interface
                qname = str(request.q.qname).rstrip(".").lower()
                qtype = QTYPE[request.q.qtype]
                hits = {k: v for k, v in outer.fixed.items() if k[0] == qname}
                if hits:
                    reply = request.reply()
                    values = hits.get((qname, qtype))
                    if not any(hits.values()):
                        reply.header.rcode = 3  # NXDOMAIN
                    for value in values or ():
                        rdata = A(value) if qtype == "A" else NS(value + ".")
                        reply.add_answer(RR(qname, request.q.qtype, rdata=rdata, ttl=60))
                    return reply
                return super().resolve(request, handler)

        self.port = free_port()
        self.server = DNSServer(Resolver("127.0.0.1", dns_port, 3), port=self.port, address="127.0.0.1")

    def start(self) -> "Internet":
        self.server.start_thread()
        return self

    def stop(self) -> None:
        self.server.stop()


def served_certificate(port: int, server_name: str | None, starttls: str | None = None) -> x509.Certificate:
    """The leaf that ``openssl s_client`` receives on ``port`` for
    ``server_name`` (``-starttls imap|smtp`` when asked)."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-showcerts"]
    cmd += ["-servername", server_name] if server_name else ["-noservername"]
    if starttls:
        cmd += ["-starttls", starttls]
    proc = subprocess.run(cmd, input=b"", capture_output=True, timeout=20)
    out = proc.stdout
    start = out.find(b"-----BEGIN CERTIFICATE-----")
    if start < 0:
        raise AssertionError(f"no certificate from port {port} for {server_name}: {proc.stderr.decode(errors='replace')}")
    end = out.index(b"-----END CERTIFICATE-----", start) + len(b"-----END CERTIFICATE-----")
    return x509.load_pem_x509_certificate(out[start:end])


def dns_names(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return ext.value.get_values_for_type(x509.DNSName)

