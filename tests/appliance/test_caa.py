"""The CAA records every zone publishes follow the configured ACME CA."""

from __future__ import annotations

from appliance import dnsdata
from appliance.settings import from_mapping
from appliance.zones import build_zones


def zone_caa(**acme) -> list[str]:
    settings = from_mapping({"box": {"hostname": "box.example.net", "domain": "example.net"}, "acme": acme}, "test.toml")
    zones = build_zones(dnsdata.box_dns(settings), [])
    return zones["example.net"].records.get(("example.net", "CAA"), [])


def test_lets_encrypt_directory_publishes_its_caa():
    """The production and staging Let's Encrypt directories give `issue "letsencrypt.org"`."""
    for url in ("https://acme-v02.api.letsencrypt.org/directory", "https://acme-staging-v02.api.letsencrypt.org/directory"):
        assert zone_caa(directory=url) == ['0 issue "letsencrypt.org"']


def test_other_known_ca_publishes_its_own_domain():
    """A ZeroSSL directory publishes Sectigo's CAA domain, not Let's Encrypt's."""
    assert zone_caa(directory="https://acme.zerossl.com/v2/DV90") == ['0 issue "sectigo.com"']


def test_private_ca_or_no_acme_publishes_no_caa():
    """An unknown (private) CA or no ACME at all: no CAA that would refuse the certificate in use."""
    assert zone_caa(directory="https://ca.internal.example/acme/directory") == []
    assert zone_caa() == []


def test_configured_caa_wins():
    """`[acme] caa` lists the issuers exactly, whatever the directory."""
    assert zone_caa(directory="https://acme.zerossl.com/v2/DV90", caa=["pki.goog", "letsencrypt.org"]) == [
        '0 issue "pki.goog"',
        '0 issue "letsencrypt.org"',
    ]
