"""Outgoing mail honours the receiving domain's MTA-STS policy (RFC 8461)
and its MX hosts' DANE TLSA records (RFC 7672).

The world here: the stub resolver publishes each test domain's MX,
``_mta-sts`` TXT and TLSA records (with the AD bit for the names a signed
zone would hold), a small HTTPS server on loopback serves the policies as
``mta-sts.<domain>`` with certificates from a test CA, and the MX host is
aiosmtpd offering STARTTLS with a certificate from the same CA for
``mx.good.test`` only. The daemon trusts that CA (``[smtp] tls_ca``) and
the stub's AD bit (``[smtp] dane``).
"""

from __future__ import annotations

import datetime
import hashlib
import http.server
import json
import smtplib
import ssl
import threading
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import free_port, wait_for
from tests.outsidemx import Receiver

from .conftest import PASSWORD, Mta, StubDNS, mta_config, provision, queue_cli, tls_client_context

#: Policies served, by domain: (Content-Type, body).
POLICIES = {
    "enforce.test": ("text/plain", "version: STSv1\r\nmode: enforce\r\nmx: mx.good.test\r\nmax_age: 86400\r\n"),
    "wildcard.test": ("text/plain", "version: STSv1\nmode: enforce\nmx: *.good.test\nmax_age: 86400\n"),
    "wrongmx.test": ("text/plain", "version: STSv1\r\nmode: enforce\r\nmx: *.elsewhere.test\r\nmax_age: 86400\r\n"),
    "badcert.test": ("text/plain", "version: STSv1\r\nmode: enforce\r\nmx: mx.bad.test\r\nmax_age: 86400\r\n"),
    "testing.test": ("text/plain", "version: STSv1\r\nmode: testing\r\nmx: mx.good.test\r\nmax_age: 86400\r\n"),
    "html.test": ("text/html", "version: STSv1\r\nmode: enforce\r\nmx: *.elsewhere.test\r\nmax_age: 86400\r\n"),
    "stripped.test": ("text/plain", "version: STSv1\r\nmode: enforce\r\nmx: mx.good.test\r\nmax_age: 86400\r\n"),
    # Names no MX: only DANE, which takes precedence, lets its mail through.
    "danests.test": ("text/plain", "version: STSv1\r\nmode: enforce\r\nmx: *.elsewhere.test\r\nmax_age: 86400\r\n"),
}
#: DANE domains: each has a secure MX RRset naming mx.<domain>, a secure
#: address, and the TLSA records (``{spki}``: the MX certificate's key hash).
DANE = {
    "dane.test": ["3 1 1 {spki}"],
    "danebad.test": ["3 1 1 " + "00" * 32],
    "danests.test": ["3 1 1 {spki}"],
    "danetaonly.test": ["2 0 1 " + "00" * 32],
    "daneinsecure.test": ["3 1 1 " + "00" * 32],
}


class _Ca:
    """A certificate authority of the test's own."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test mail CA")])
        self.name = name
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = directory / "ca.pem"
        self.pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def server_context(self, label: str, names: list[str]) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        cert_path, key_path = self.directory / f"{label}.crt", self.directory / f"{label}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_path, key_path)
        context.spki = hashlib.sha256(cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()
        return context


class _PolicyServer:
    """HTTPS on loopback answering ``/.well-known/mta-sts.txt`` by Host."""

    def __init__(self, context: ssl.SSLContext):
        self.fetches: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the base class's name
                domain = self.headers.get("Host", "").split(":")[0].removeprefix("mta-sts.")
                owner.fetches.append(domain)
                if self.path != "/.well-known/mta-sts.txt" or domain not in POLICIES:
                    self.send_error(404)
                    return
                media, body = POLICIES[domain]
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", media)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("mta-sts")
    ca = _Ca(root)
    dns = StubDNS()
    policies = _PolicyServer(ca.server_context("policy", [f"mta-sts.{d}" for d in POLICIES]))
    mx_tls = ca.server_context("mx", ["mx.good.test"])
    mx = Receiver(free_port(), tls=mx_tls).start()
    for name in ("mx.good.test", "mx.bad.test", "mta-sts.wrongmx.test"):
        dns.add(f"{name}. 60 IN A 127.0.0.1")
    for domain in POLICIES:
        dns.add(f"mta-sts.{domain}. 60 IN A 127.0.0.1")
        dns.add_txt(f"_mta-sts.{domain}", "v=STSv1; id=first1")
    for domain in ("enforce.test", "wildcard.test", "wrongmx.test", "testing.test", "html.test", "stripped.test",
                   "plain.test"):
        dns.add(f"{domain}. 60 IN MX 10 mx.good.test.")
    for domain in ("badcert.test",):
        dns.add(f"{domain}. 60 IN MX 10 mx.bad.test.")
    for domain, records in DANE.items():
        host = f"mx.{domain}"
        dns.add(f"{domain}. 60 IN MX 10 {host}.")
        dns.add(f"{host}. 60 IN A 127.0.0.1")
        for record in records:
            dns.add(f"_{mx.port}._tcp.{host}. 60 IN TLSA {record.format(spki=mx_tls.spki)}")
        if domain != "daneinsecure.test":
            dns.secure |= {domain, host, f"_{mx.port}._tcp.{host}"}
    mta = Mta(root, dns)
    mta.config.write_text(mta_config(
        dns.port, {}, mx.port, f'mta_sts_port = {policies.port}\ntls_ca = "{ca.pem}"\ndane = true\n'))
    provision(mta)
    mta.daemon.start()
    yield mta, dns, mx, policies
    mta.daemon.stop()
    mx.stop()
    policies.close()
    dns.close()


def _send(mta, to: str) -> str:
    tag = uuid.uuid4().hex
    body = f"From: alice@acme.test\r\nTo: {to}\r\nSubject: {tag}\r\n\r\nhello\r\n".encode()
    with smtplib.SMTP_SSL("127.0.0.1", mta.port("submissions"), timeout=10, context=tls_client_context()) as client:
        client.login("alice@acme.test", PASSWORD)
        client.sendmail("alice@acme.test", [to], body)
    return tag


def _arrived(mx, tag: str):
    return [m for m in mx.handler.messages if tag.encode() in m.data]


def _held(mta, to: str, reason: str) -> str:
    """Wait until the message to ``to`` is in the queue with ``reason`` in
    its last error; returns the queue entry as JSON text."""
    def entry() -> str | None:
        proc = queue_cli(mta, "list", "--json")
        assert proc.returncode == 0, proc.stderr
        return next((t for t in map(json.dumps, json.loads(proc.stdout)) if to in t and reason in t), None)
    return wait_for(entry, timeout=60)


def test_an_enforced_policy_is_fetched_and_mail_goes_over_verified_tls(world):
    mta, _dns, mx, policies = world
    tag = _send(mta, "ann@enforce.test")
    got = wait_for(lambda: _arrived(mx, tag), timeout=60)[0]
    assert got.tls
    assert "enforce.test" in policies.fetches


def test_a_wildcard_pattern_covers_one_label(world):
    mta, _dns, mx, _policies = world
    tag = _send(mta, "ann@wildcard.test")
    assert wait_for(lambda: _arrived(mx, tag), timeout=60)[0].tls


def test_an_mx_the_policy_does_not_name_is_never_used_and_the_mail_waits(world):
    mta, _dns, mx, _policies = world
    tag = _send(mta, "ann@wrongmx.test")
    assert "MTA-STS" in _held(mta, "ann@wrongmx.test", "4.7.5")
    assert _arrived(mx, tag) == []


def test_a_certificate_that_does_not_name_the_mx_keeps_the_mail_queued_not_sent_in_clear(world):
    """mx.bad.test answers with mx.good.test's certificate: under enforce
    the mail is not delivered (over TLS or in clear text)."""
    mta, _dns, mx, _policies = world
    tag = _send(mta, "ann@badcert.test")
    _held(mta, "ann@badcert.test", "TLS")
    assert _arrived(mx, tag) == []


def test_testing_mode_and_no_policy_deliver_as_before(world):
    mta, _dns, mx, _policies = world
    for to in ("ann@testing.test", "ann@plain.test"):
        tag = _send(mta, to)
        assert wait_for(lambda: _arrived(mx, tag), timeout=60)


def test_a_policy_served_as_html_is_no_policy(world):
    """Section 3.3: the media type must be text/plain; html.test's
    policy would have refused its MX, so delivery shows it was ignored."""
    mta, _dns, mx, _policies = world
    tag = _send(mta, "ann@html.test")
    assert wait_for(lambda: _arrived(mx, tag), timeout=60)


def test_a_cached_policy_outlives_its_txt_record_and_a_changed_mx(world):
    """An attacker who strips the _mta-sts record and points MX elsewhere
    does not get the mail: the cached policy (max_age a day) still holds."""
    mta, dns, mx, policies = world
    first = _send(mta, "ann@stripped.test")
    assert wait_for(lambda: _arrived(mx, first), timeout=60)[0].tls
    fetched = policies.fetches.count("stripped.test")
    dns.records = [r for r in dns.records if str(r.rname).rstrip(".") not in ("_mta-sts.stripped.test", "stripped.test")]
    dns.add("stripped.test. 60 IN MX 10 mx.bad.test.")
    second = _send(mta, "ann@stripped.test")
    _held(mta, "ann@stripped.test", "4.7.5")
    assert _arrived(mx, second) == []
    assert policies.fetches.count("stripped.test") == fetched


def test_a_new_id_fetches_the_policy_again(world):
    mta, dns, mx, policies = world
    before = policies.fetches.count("enforce.test")
    dns.records = [r for r in dns.records if str(r.rname).rstrip(".") != "_mta-sts.enforce.test"]
    dns.add_txt("_mta-sts.enforce.test", "v=STSv1; id=second2")
    tag = _send(mta, "bob@enforce.test")
    assert wait_for(lambda: _arrived(mx, tag), timeout=60)[0].tls
    assert policies.fetches.count("enforce.test") == before + 1


def test_a_host_with_a_matching_dane_ee_record_gets_the_mail_over_tls(world):
    """DANE-EE pins the key: the certificate names mx.good.test, not
    mx.dane.test, and that does not matter (RFC 7672 section 3.1.1)."""
    mta, _dns, mx, _policies = world
    tag = _send(mta, "ann@dane.test")
    assert wait_for(lambda: _arrived(mx, tag), timeout=60)[0].tls


def test_a_certificate_no_tlsa_record_matches_keeps_the_mail_queued(world):
    mta, _dns, mx, _policies = world
    tag = _send(mta, "ann@danebad.test")
    _held(mta, "ann@danebad.test", "TLSA")
    assert _arrived(mx, tag) == []


def test_dane_takes_precedence_over_an_mta_sts_policy(world):
    """danests.test's policy names no MX; its signed TLSA records do."""
    mta, _dns, mx, _policies = world
    tag = _send(mta, "ann@danests.test")
    assert wait_for(lambda: _arrived(mx, tag), timeout=60)[0].tls


def test_records_not_signed_are_not_trusted_and_delivery_is_as_before(world):
    mta, _dns, mx, _policies = world
    tag = _send(mta, "ann@daneinsecure.test")
    assert wait_for(lambda: _arrived(mx, tag), timeout=60)


def test_a_host_with_only_dane_ta_records_still_gets_tls_only(world):
    """DANE-TA is not checked here (no chain from Python's ssl before
    3.13), but a host that publishes it is never sent mail in clear text."""
    mta, _dns, mx, _policies = world
    tag = _send(mta, "ann@danetaonly.test")
    assert wait_for(lambda: _arrived(mx, tag), timeout=60)[0].tls
