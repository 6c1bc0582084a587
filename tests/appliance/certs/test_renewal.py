"""Renewal on schedule and the CA going away, against pebble issuing
certificates that live 12 seconds (renewed at half their life here).

One daemon and one pebble for the module; one business without its own
domain, so the box holds two certificates (host name, free domain).
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import wait_for as wait_until

from .conftest import AcmeBox
from .pebble import served_certificate

VALIDITY = 12


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory):
    box = AcmeBox(
        tmp_path_factory.mktemp("renewal"),
        validity=VALIDITY,
        acme_extra="renew_fraction = 0.5\nretry_min_seconds = 1\nretry_max_seconds = 4\n",
    )
    try:
        box.start(("deli", None))
        wait_until(lambda: box.certs().get("deli.appliance.test", {}).get("status") == "valid", timeout=60, interval=0.5)
        yield box
    finally:
        box.stop()


def test_renewed_at_the_configured_fraction_of_its_life(acme: AcmeBox) -> None:
    """A certificate is replaced, and served, once half its lifetime has passed, with no request from anyone."""
    port = acme.daemon.port("https")
    first = served_certificate(port, "deli.appliance.test")
    lifetime = (first.not_valid_after_utc - first.not_valid_before_utc).total_seconds()
    assert lifetime <= VALIDITY + 1
    second = wait_until(
        lambda: (c := served_certificate(port, "deli.appliance.test")).serial_number != first.serial_number and c,
        timeout=VALIDITY * 2,
        interval=0.5,
    )
    renewed_after = (second.not_valid_before_utc - first.not_valid_before_utc).total_seconds()
    # Due at half of the life (6 s), never before it; one order takes a second or two.
    assert lifetime * 0.5 - 1 <= renewed_after <= lifetime * 0.5 + 5, renewed_after


def test_ca_gone_keeps_the_certificate_and_retries_with_backoff(acme: AcmeBox) -> None:
    """With the CA unreachable the listeners keep the last certificate, the
    failure is listed with its error and a later retry time, and issuance
    resumes by itself once a CA answers again."""
    port = acme.daemon.port("submissions")
    acme.pebble.stop()
    held = served_certificate(port, "deli.appliance.test")
    row = wait_until(lambda: (r := acme.certs()["deli.appliance.test"])["last_error"] and r, timeout=VALIDITY * 2)
    assert row["last_error"] == "CA unreachable: cannot connect to the ACME directory"
    assert row["next_attempt"] is not None
    assert served_certificate(port, "deli.appliance.test").serial_number == held.serial_number
    proc = acme.cli("cert", "renew", "deli.appliance.test", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "appliance: error: deli.appliance.test: failed: CA unreachable: cannot connect to the ACME directory"
    )
    assert served_certificate(port, "deli.appliance.test").serial_number == held.serial_number
    acme.pebble.start()  # a new CA: new root, no accounts
    root = acme.pebble.root_pem()
    wait_until(lambda: acme.certs()["deli.appliance.test"]["last_error"] is None, timeout=20, interval=0.3)
    fresh = served_certificate(port, "deli.appliance.test")
    assert fresh.serial_number != held.serial_number
    assert fresh.issuer != held.issuer and b"BEGIN CERTIFICATE" in root

