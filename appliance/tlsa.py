"""TLSA records for the box's own MX host names (RFC 6698, RFC 7671), so
that senders doing DANE for SMTP (RFC 7672) authenticate our server and
never fall back to clear text.

Each record is ``_25._tcp.<MX host> TLSA 3 1 1 <SHA-256 of the key>``:
DANE-EE, the public key (SubjectPublicKeyInfo), SHA-256 - what RFC 7671
section 5.1 recommends, since it pins the key and not the certificate, and
renewals keep the key (:func:`appliance.certs.order.issue` is given the one
it renews). The key is the one SMTP presents for that name: the same choice
as :class:`appliance.certs.sni.Selector` makes (a certificate holding the
name, else the wildcard of its parent, else the box certificate).

Published only in zones the box signs: an unsigned TLSA record is not
trusted by anyone (RFC 7672 section 2.2).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from cryptography.hazmat.primitives import serialization

#: The port senders deliver mail to (the TLSA owner name is ``_25._tcp.``).
SMTP_PORT = 25


def spki_sha256(key_pem: bytes | str) -> str:
    """The hex SHA-256 of the public key of the private key ``key_pem``."""
    data = key_pem.encode("ascii") if isinstance(key_pem, str) else key_pem
    public = serialization.load_pem_private_key(data, password=None).public_key()
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def keys_by_name(rows: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``{name: key hash}`` of issued certificate rows (``storage.certs``),
    each name taken by the first certificate holding it, as served."""
    out: dict[str, str] = {}
    for row in rows:
        if not (row.get("cert_pem") and row.get("key_pem")):
            continue
        digest = spki_sha256(row["key_pem"])
        for name in row["names"]:
            out.setdefault(name.lower(), digest)
    return out


@dataclass(frozen=True)
class ServedKeys:
    """The keys the box's TLS listeners present: by name, and the box
    certificate's for every other name."""

    default: str
    names: Mapping[str, str] = field(default_factory=dict)

    def for_name(self, name: str, own: Mapping[str, str] = {}) -> str:
        """The key hash presented for ``name``; ``own`` are the names of
        the business whose zone holds it (looked at first, as they are the
        only certificates that may hold its names)."""
        name = name.lower()
        for table in (own, self.names):
            if name in table:
                return table[name]
        parent = "*." + name.partition(".")[2]
        for table in (own, self.names):
            if parent in table:
                return table[parent]
        return self.default


def record(host: str, digest: str) -> tuple[str, str]:
    """(owner name, TLSA value) for MX ``host``."""
    return f"_{SMTP_PORT}._tcp.{host}", f"3 1 1 {digest}"
