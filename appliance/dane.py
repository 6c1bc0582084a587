"""DANE for outgoing SMTP (RFC 7672): a receiving MX host authenticated by
the TLSA records its DNSSEC-signed zone publishes at ``_<port>._tcp.<host>``.

Which records count and how a certificate is matched; the lookups and the
decision to require DANE are the outbound queue's (:mod:`appliance.outbound`).
Only the DANE-EE usage (3) authenticates here: it pins the server's own
certificate or key, with no name or expiry check (section 3.1.1). DANE-TA
(2) needs the chain the server sends, which Python's ``ssl`` module only
gives from 3.13; a host with TLSA records but none usable here still gets
mandatory TLS, never clear text (section 2.2). PKIX usages 0 and 1 are not
for SMTP (section 3.1.3) and are ignored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

#: RFC 6698 section 2.1.1: the usage that pins the end entity.
DANE_EE = 3
#: Usages meaningful for SMTP (RFC 7672 section 3.1).
SMTP_USAGES = (2, 3)


@dataclass(frozen=True)
class Tlsa:
    """One TLSA record: usage, selector (0 certificate, 1 public key),
    matching type (0 exact, 1 SHA-256, 2 SHA-512) and its data."""

    usage: int
    selector: int
    mtype: int
    data: bytes


def usable(records: list[Tlsa]) -> tuple[Tlsa, ...]:
    """The records that make DANE apply to a host (RFC 7672 section 2.2:
    with none of them, the host is treated as having no TLSA records)."""
    return tuple(r for r in records if r.usage in SMTP_USAGES and r.selector in (0, 1) and r.mtype in (0, 1, 2))


def authenticates(records: tuple[Tlsa, ...]) -> bool:
    """Can a certificate be checked against ``records`` here (a DANE-EE one)?"""
    return any(r.usage == DANE_EE for r in records)


def matches(records: tuple[Tlsa, ...], certificate_der: bytes) -> bool:
    """Does the server's certificate (DER) match a DANE-EE record?"""
    try:
        return _matches(records, certificate_der)
    except ValueError:  # a certificate cryptography cannot read matches nothing
        return False


def _matches(records: tuple[Tlsa, ...], certificate_der: bytes) -> bool:
    cert = None
    for record in records:
        if record.usage != DANE_EE:
            continue
        if record.selector == 0:
            selected = certificate_der
        else:
            if cert is None:
                cert = x509.load_der_x509_certificate(certificate_der)
            selected = cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        digest = {0: lambda b: b, 1: lambda b: hashlib.sha256(b).digest(), 2: lambda b: hashlib.sha512(b).digest()}
        if digest[record.mtype](selected) == record.data:
            return True
    return False
