"""Certificates from pebble (a real ACME CA with real validation) for every
name the box serves, and the right one on every TLS port by SNI.

One daemon and one pebble for the module. The businesses:

* ``bakery`` with ``bakery.test``: our zone, delegated to us -> DNS-01 for
  ``bakery.test`` and ``*.bakery.test``;
* ``far`` with ``elsewhere.test``: in our zone data but delegated to other
  name servers -> HTTP-01 for the names that point at the box only;
* ``gone`` with ``gone.test``: delegated elsewhere and pointing elsewhere ->
  never requested.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.conftest import wait_for as wait_until

from .conftest import AcmeBox
from .pebble import dns_names, served_certificate

#: Every TLS listener: (listener name, STARTTLS protocol or None).
TLS_PORTS = (
    ("https", None),
    ("imaps", None),
    ("submissions", None),
    ("imap", "imap"),
    ("submission", "smtp"),
    ("smtp", "smtp"),
)


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory):
    box = AcmeBox(tmp_path_factory.mktemp("acme"))
    try:
        box.start(("bakery", "bakery.test"), ("far", "elsewhere.test"), ("gone", "gone.test"))
        wanted = {"box.appliance.test", "bakery.test", "bakery.appliance.test", "elsewhere.test"}
        wait_until(lambda: all(box.certs().get(n, {}).get("status") == "valid" for n in wanted), timeout=60, interval=0.5)
        box.root = box.tmp / "pebble-root.pem"
        box.root.write_bytes(box.pebble.root_pem())
        yield box
    finally:
        box.stop()


def _verify(acme: AcmeBox, port: int, name: str, starttls: str | None = None) -> str:
    """``openssl s_client`` output when verifying ``name`` against pebble's root."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", name,
           "-CAfile", str(acme.root), "-verify_hostname", name, "-verify_return_error"]
    if starttls:
        cmd += ["-starttls", starttls]
    proc = subprocess.run(cmd, input=b"", capture_output=True, timeout=20)
    return proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")


def test_box_host_name_by_dns01(acme: AcmeBox) -> None:
    """The box host name (in our own zone) gets a pebble certificate through DNS-01."""
    row = acme.certs()["box.appliance.test"]
    assert (row["status"], row["challenge"], row["business"]) == ("valid", "dns-01", None)
    assert row["issuer"].startswith("Pebble Intermediate")


def test_own_domain_wildcard_by_dns01(acme: AcmeBox) -> None:
    """A delegated business domain gets one certificate for itself and its
    wildcard, validated through our DNS server, stored in its file."""
    row = acme.certs()["bakery.test"]
    assert (row["status"], row["challenge"], row["business"]) == ("valid", "dns-01", "bakery")
    assert row["names"] == ["bakery.test", "*.bakery.test"]


def test_wildcard_served_for_any_subdomain(acme: AcmeBox) -> None:
    """A name only the wildcard covers gets the business's certificate, which verifies against pebble's root."""
    out = _verify(acme, acme.daemon.port("https"), "shop.bakery.test")
    assert "Verify return code: 0 (ok)" in out, out
    leaf = served_certificate(acme.daemon.port("https"), "shop.bakery.test")
    assert "*.bakery.test" in dns_names(leaf)


def test_free_domain_gets_its_own_certificate(acme: AcmeBox) -> None:
    """The free subdomain of a business is certified separately (names under the box zone)."""
    row = acme.certs()["bakery.appliance.test"]
    assert row["names"] == ["bakery.appliance.test", "*.bakery.appliance.test"]
    assert row["business"] == "bakery" and row["status"] == "valid"


def test_not_delegated_domain_by_http01(acme: AcmeBox) -> None:
    """A domain delegated elsewhere is validated by HTTP-01 for the names that point at the box, and only those."""
    row = acme.certs()["elsewhere.test"]
    assert (row["status"], row["challenge"], row["business"]) == ("valid", "http-01", "far")
    assert row["names"] == ["elsewhere.test", "www.elsewhere.test"]


def test_dangling_domain_not_requested(acme: AcmeBox) -> None:
    """A domain whose names point elsewhere gets no certificate row at all."""
    assert "gone.test" not in acme.certs()
    proc = acme.cli("cert", "renew", "gone.test", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "appliance: error: gone.test is not requested: resolves to 192.0.2.20"


def test_plain_http_goes_to_https_only_for_names_with_an_issued_certificate(acme: AcmeBox) -> None:
    """curl over plain HTTP: a name a certificate covers (exactly or by
    wildcard) is redirected to HTTPS; a name without one is served as it is;
    ACME challenges are never redirected."""
    port = acme.daemon.port("http")

    def head(host: str, path: str = "/") -> tuple[str, str]:
        out = subprocess.run(["curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                              "-H", f"Host: {host}", f"http://127.0.0.1:{port}{path}"],
                             capture_output=True, text=True, check=True).stdout
        code, _, location = out.partition(" ")
        return code, location

    https = acme.daemon.port("https")
    assert head("bakery.test", "/prices/?x=1") == ("301", f"https://bakery.test:{https}/prices/?x=1")
    assert head("www.bakery.test") == ("301", f"https://www.bakery.test:{https}/")
    assert head("gone.test")[0] == "200"
    assert head("bakery.test", "/.well-known/acme-challenge/unknown-token")[0] == "404"


def test_dangling_subdomain_refused_by_name(acme: AcmeBox) -> None:
    """Renewing a name that does not resolve to the box says why, in one line."""
    proc = acme.cli("cert", "renew", "autodiscover.elsewhere.test", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "appliance: error: autodiscover.elsewhere.test is not requested: does not resolve"


def test_renew_unknown_name_is_one_line_error(acme: AcmeBox) -> None:
    """A name that is neither the box's nor any business's is refused before asking the daemon."""
    proc = acme.cli("cert", "renew", "example.org", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "appliance: error: example.org is not a name of this box or of any business"


@pytest.mark.parametrize("listener,starttls", TLS_PORTS)
@pytest.mark.parametrize("name", ["bakery.test", "www.elsewhere.test", "box.appliance.test", "bakery.appliance.test"])
def test_every_tls_port_serves_the_certificate_for_the_name(acme: AcmeBox, listener: str, starttls: str | None, name: str) -> None:
    """Each TLS listener (implicit and STARTTLS) hands out the certificate for the server name asked, chained to pebble's root."""
    out = _verify(acme, acme.daemon.port(listener), name, starttls)
    assert "Verify return code: 0 (ok)" in out, out


@pytest.mark.parametrize("listener,starttls", TLS_PORTS)
def test_unknown_name_and_no_name_get_the_box_certificate(acme: AcmeBox, listener: str, starttls: str | None) -> None:
    """A name the box holds no certificate for, and a client sending no name, get the box certificate."""
    port = acme.daemon.port(listener)
    for name in ("unknown.example", None):
        leaf = served_certificate(port, name, starttls)
        assert dns_names(leaf) == ["box.appliance.test"], (name, dns_names(leaf))


def test_renew_replaces_the_served_certificate_without_restart(acme: AcmeBox) -> None:
    """``appliance cert renew NAME`` gets a new certificate (same key) from the CA and every listener serves it at once."""
    port = acme.daemon.port("imaps")
    first = served_certificate(port, "www.bakery.test")
    before, before_key = first.serial_number, first.public_key().public_numbers()
    pid = acme.daemon.proc.pid
    proc = acme.cli("cert", "renew", "www.bakery.test")
    assert proc.stdout.startswith("bakery.test: issued for bakery.test, *.bakery.test by Pebble Intermediate CA")
    after = served_certificate(port, "www.bakery.test")
    assert after.serial_number != before
    # The key is kept, so the TLSA records that name it stay true (appliance.tlsa).
    assert after.public_key().public_numbers() == before_key
    assert served_certificate(acme.daemon.port("submissions"), "bakery.test").serial_number == after.serial_number
    assert acme.daemon.proc.pid == pid and acme.daemon.proc.poll() is None


def test_certificates_kept_across_restart(acme: AcmeBox) -> None:
    """A restarted daemon serves the stored certificates at once, without asking the CA."""
    port_before = acme.daemon.port("https")
    serial = served_certificate(port_before, "bakery.test").serial_number
    acme.daemon.stop()
    acme.pebble.stop()
    try:
        acme.daemon.start()
        got = wait_until(
            lambda: served_certificate(acme.daemon.port("https"), "bakery.test").serial_number == serial, timeout=10
        )
        assert got
    finally:
        acme.pebble.start()


def test_cert_list_json_fields(acme: AcmeBox) -> None:
    """``appliance cert list --json`` names the business, issuer, expiry, status and last error of each certificate."""
    rows = acme.cli.json("cert", "list")
    row = next(r for r in rows if r["name"] == "elsewhere.test")
    assert set(row) >= {"name", "names", "business", "issuer", "not_after", "status", "last_error"}
    assert row["last_error"] is None
    assert row["not_after"] > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())


#: Suites that are acceptable in a testssl finding: forward secret and AEAD.
GOOD_TLS12 = ("ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305",
              "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305")
GOOD_TLS13 = ("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256")


def test_tls_scan_finds_nothing_below_tls12_and_no_weak_suite(acme: AcmeBox, tmp_path: Path) -> None:
    """testssl.sh on every TLS port (implicit and STARTTLS) finds only TLS 1.2 and 1.3, with ECDHE AEAD suites only."""
    import json

    procs = {}
    for listener, starttls in TLS_PORTS:
        out = tmp_path / f"{listener}.json"
        cmd = ["testssl", "--quiet", "--warnings", "off", "--nodns", "none", "--ip", "127.0.0.1",
               "-p", "-E", "--jsonfile", str(out)]
        if starttls:
            cmd += ["-t", starttls]
        cmd.append(f"127.0.0.1:{acme.daemon.port(listener)}")
        procs[listener] = (subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out)
    report = {}
    for listener, (proc, out) in procs.items():
        proc.wait(timeout=240)
        findings = {e["id"]: e["finding"] for e in json.loads(out.read_text())}
        protocols = {p: findings[p] for p in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3")}
        suites = [f.split()[3] for k, f in findings.items() if k.startswith("cipher-tls")]
        report[listener] = (protocols, suites)
        for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
            assert protocols[old].startswith("not offered"), (listener, old, protocols[old])
        assert protocols["TLS1_2"].startswith("offered") and protocols["TLS1_3"].startswith("offered"), (listener, protocols)
        tls12 = [f.split()[3] for k, f in findings.items() if k.startswith("cipher-tls1_2")]
        tls13 = [f.split()[3] for k, f in findings.items() if k.startswith("cipher-tls1_3")]
        assert tls12 and set(tls12) <= set(GOOD_TLS12), (listener, tls12)
        assert tls13 and set(tls13) <= set(GOOD_TLS13), (listener, tls13)
        assert not any(k.startswith(("cipher-ssl", "cipher-tls1_x", "cipher-tls1_1", "cipher-tls1 ")) for k in findings)
    (tmp_path / "scan-report.json").write_text(json.dumps(report, indent=2))
