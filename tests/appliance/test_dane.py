"""Matching a server's certificate against TLSA records (RFC 6698 as
RFC 7672 uses it for SMTP)."""

from __future__ import annotations

import hashlib
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance.dane import Tlsa, authenticates, matches, usable
from appliance.tls import self_signed


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[bytes, bytes]:
    """A certificate's DER and its public key's (SubjectPublicKeyInfo) DER."""
    cert_path, _key = self_signed(tmp_path_factory.mktemp("dane"), "mx.example")
    der = ssl.PEM_cert_to_DER_cert(cert_path.read_text())
    spki = x509.load_der_x509_certificate(der).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der, spki


@pytest.mark.parametrize("selector, mtype", [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)])
def test_every_selector_and_matching_type_of_dane_ee(certificate, selector, mtype):
    der, spki = certificate
    selected = der if selector == 0 else spki
    data = {0: selected, 1: hashlib.sha256(selected).digest(), 2: hashlib.sha512(selected).digest()}[mtype]
    assert matches((Tlsa(3, selector, mtype, data),), der)
    assert not matches((Tlsa(3, selector, mtype, data[:-1] + bytes([data[-1] ^ 1])),), der)


def test_only_dane_ee_authenticates_and_pkix_usages_do_not_count(certificate):
    der, spki = certificate
    digest = hashlib.sha256(spki).digest()
    assert not matches((Tlsa(2, 1, 1, digest), Tlsa(1, 1, 1, digest)), der)
    assert usable([Tlsa(0, 1, 1, digest), Tlsa(1, 1, 1, digest), Tlsa(2, 1, 1, digest), Tlsa(3, 2, 1, digest),
                   Tlsa(3, 1, 9, digest)]) == (Tlsa(2, 1, 1, digest),)
    assert not authenticates((Tlsa(2, 1, 1, digest),)) and authenticates((Tlsa(3, 1, 1, digest),))


def test_a_certificate_that_cannot_be_read_matches_nothing():
    assert not matches((Tlsa(3, 1, 1, b"\0" * 32),), b"not a certificate")
