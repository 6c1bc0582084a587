"""DKIM keys of a business's domains, in the business's own file.

Every domain gets a 2048-bit RSA key when it is added (:func:`on_domain_added`,
registered in ``storage.schema.ON_DOMAIN_ADDED``). Outgoing mail is signed
with the key of the sender's domain; the DNS service publishes
:func:`txt_record` at ``<selector>._domainkey.<domain>``. Keys leave with
their domain (``ON DELETE CASCADE``).
"""

from __future__ import annotations

import base64
import sqlite3
from dataclasses import dataclass

import sqlite_utils
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

MIGRATIONS = sqlite_utils.Migrations("dkim")

#: Selector of keys made here; a rotation would add a second one.
SELECTOR = "s1"
KEY_BITS = 2048


@MIGRATIONS(name="0001_dkim_keys")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE dkim_keys (
            domain TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE ON UPDATE CASCADE,
            selector TEXT NOT NULL,
            private_pem BLOB NOT NULL,
            public_b64 TEXT NOT NULL,
            created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
            PRIMARY KEY (domain, selector)
        );
        """
    )


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    private_pem: bytes
    public_b64: str

    @property
    def dns_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def txt(self) -> str:
        return f"v=DKIM1; k=rsa; p={self.public_b64}"


def generate() -> tuple[bytes, str]:
    """A new RSA key: (PKCS#8 PEM private key, base64 DER SubjectPublicKeyInfo)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, base64.b64encode(der).decode("ascii")


def on_domain_added(conn: sqlite3.Connection, domain: str) -> None:
    """ON_DOMAIN_ADDED hook: give ``domain`` a key unless it has one."""
    if conn.execute("SELECT 1 FROM dkim_keys WHERE domain = ?", (domain,)).fetchone():
        return
    pem, public = generate()
    conn.execute(
        "INSERT INTO dkim_keys (domain, selector, private_pem, public_b64) VALUES (?, ?, ?, ?)",
        (domain, SELECTOR, pem, public),
    )


def key_for(conn: sqlite3.Connection, domain: str) -> DkimKey | None:
    """The newest key of ``domain``, or None (a domain added before keys existed)."""
    row = conn.execute(
        "SELECT * FROM dkim_keys WHERE domain = ? ORDER BY created DESC, selector DESC LIMIT 1", (domain,)
    ).fetchone()
    if row is None:
        return None
    return DkimKey(row["domain"], row["selector"], bytes(row["private_pem"]), row["public_b64"])


def ensure_key(conn: sqlite3.Connection, domain: str) -> DkimKey:
    """The key of ``domain``, made now if it has none (write transaction)."""
    key = key_for(conn, domain)
    if key is None:
        on_domain_added(conn, domain)
        key = key_for(conn, domain)
    assert key is not None
    return key


def txt_record(conn: sqlite3.Connection, domain: str) -> tuple[str, str] | None:
    """``(name, TXT value)`` to publish for ``domain``'s key, or None."""
    key = key_for(conn, domain)
    return None if key is None else (key.dns_name, key.txt)
