"""A domain's client host name (``[box] client_label``) in the certificate
pebble issues for the domain, and served by SNI on every TLS port, so a
client given ``mail.<domain>`` verifies it."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import wait_for as wait_until

from .conftest import AcmeBox
from .test_acme import TLS_PORTS


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory):
    box = AcmeBox(tmp_path_factory.mktemp("acme-client"), acme_extra="wildcards = false\n",
                  box_extra='client_label = "mail"\n')
    try:
        box.start(("bakery", "bakery.test"))
        wanted = {"bakery.test", "bakery.appliance.test"}
        wait_until(lambda: all(box.certs().get(n, {}).get("status") == "valid" for n in wanted), timeout=90, interval=0.5)
        box.root = box.tmp / "pebble-root.pem"
        box.root.write_bytes(box.pebble.root_pem())
        yield box
    finally:
        box.stop()


def test_the_certificate_of_a_domain_covers_its_client_host_name(acme: AcmeBox) -> None:
    """Without wildcards, the names of bakery.test's certificate (and of its
    free domain's) list mail.<domain> beside www, autoconfig, autodiscover, mta-sts."""
    certs = acme.certs()
    assert "mail.bakery.test" in certs["bakery.test"]["names"]
    assert "mail.bakery.appliance.test" in certs["bakery.appliance.test"]["names"]


@pytest.mark.parametrize("listener,starttls", TLS_PORTS)
def test_every_tls_port_serves_it_for_the_client_host_name(acme: AcmeBox, listener: str, starttls: str | None) -> None:
    """openssl asking for mail.bakery.test on each TLS listener gets a
    certificate that verifies for that name against pebble's root."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{acme.daemon.port(listener)}", "-servername", "mail.bakery.test",
           "-CAfile", str(acme.root), "-verify_hostname", "mail.bakery.test", "-verify_return_error"]
    if starttls:
        cmd += ["-starttls", starttls]
    proc = subprocess.run(cmd, input=b"", capture_output=True, timeout=20)
    out = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    assert "Verify return code: 0 (ok)" in out, out


def test_the_tlsa_record_of_the_client_host_name_follows_the_issued_key(acme: AcmeBox) -> None:
    """Once pebble's certificate (with a key of its own) serves
    mail.bakery.test, the signed zone's `_25._tcp.mail.bakery.test` TLSA
    names that key - the one SMTP presents for the name - and no longer the
    box certificate's."""
    from tests.appliance.test_fleet import _presented_key
    from tests.protocols.dns.digging import dig_runner

    dig = dig_runner(acme.daemon.port("dns"))
    presented = _presented_key(acme.daemon.port("smtp"), "mail.bakery.test")
    assert presented != _presented_key(acme.daemon.port("smtp"), "no-certificate.example")

    def published() -> str:
        return "".join(dig("+short", "_25._tcp.mail.bakery.test", "TLSA").split()[3:]).lower()

    wait_until(lambda: published() == presented, timeout=30, interval=0.5)
