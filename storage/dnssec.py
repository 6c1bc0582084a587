"""DNSSEC signing keys: a business's in its own file, the box's in the box
database.

Each zone has one combined signing key (CSK: flags 257, it signs every
RRset) in the ``active`` state. A rollover (``appliance dns rollover``)
goes through three states, one step at a time:

* ``published``: a new key, in the DNSKEY RRset but signing nothing yet;
* ``active``: the key that signs the zone;
* ``retired``: the old key after the switch, still in the DNSKEY RRset so
  that signatures cached by resolvers still validate, until it is removed.

A business's keys belong to one of its domains and leave with it (``ON
DELETE CASCADE``); every domain gets a key when it is added
(:func:`on_domain_added`, registered in ``storage.schema.ON_DOMAIN_ADDED``)
and the domains of files made before DNSSEC get theirs when the file is
migrated. The box zone and the catalog zone have their keys in the box
database, keyed by the zone's name (:data:`BOX_MIGRATIONS`), made when they
are first signed. Keys never leave a file except in a backup of it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import sqlite_utils
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .errors import Conflict, NotFound

MIGRATIONS = sqlite_utils.Migrations("dnssec")
BOX_MIGRATIONS = sqlite_utils.Migrations("box_dnssec")

#: ECDSA Curve P-256 with SHA-256 (RFC 6605), what registrars and
#: validators support most widely (RFC 8624 section 3.1: MUST).
ALGORITHM = 13
STATES = ("published", "active", "retired")

_TABLE = """
    CREATE TABLE dnssec_keys (
        id INTEGER PRIMARY KEY,
        domain TEXT NOT NULL {fk},
        algorithm INTEGER NOT NULL,
        private_pem BLOB NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('published', 'active', 'retired')),
        created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        changed TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    CREATE INDEX dnssec_keys_by_domain ON dnssec_keys(domain);
"""


@MIGRATIONS(name="0001_dnssec_keys")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(_TABLE.format(fk="REFERENCES domains(name) ON DELETE CASCADE ON UPDATE CASCADE"))
    # Files made before DNSSEC: every domain gets its key now.
    for (domain,) in db.execute("SELECT name FROM domains").fetchall():
        _insert(db.conn, domain, "active")


@BOX_MIGRATIONS(name="0001_box_dnssec_keys")
def _b0001(db: sqlite_utils.Database) -> None:
    db.executescript(_TABLE.format(fk=""))


@dataclass(frozen=True)
class SigningKey:
    """One key of one zone (see the module doc for ``state``)."""

    id: int
    domain: str
    algorithm: int
    private_pem: bytes
    state: str
    created: str
    changed: str


def generate() -> bytes:
    """A new P-256 private key, PKCS#8 PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _insert(conn: sqlite3.Connection, domain: str, state: str) -> None:
    conn.execute(
        "INSERT INTO dnssec_keys (domain, algorithm, private_pem, state) VALUES (?, ?, ?, ?)",
        (domain, ALGORITHM, generate(), state),
    )


def on_domain_added(conn: sqlite3.Connection, domain: str) -> None:
    """ON_DOMAIN_ADDED hook: give ``domain`` an active key unless it has one."""
    ensure_key(conn, domain)


def ensure_key(conn: sqlite3.Connection, domain: str) -> bool:
    """Give ``domain`` an active key if it has no key at all; True if one was made."""
    if conn.execute("SELECT 1 FROM dnssec_keys WHERE domain = ?", (domain,)).fetchone():
        return False
    _insert(conn, domain, "active")
    return True


def keys(conn: sqlite3.Connection, domain: str | None = None) -> list[SigningKey]:
    """The keys of ``domain`` (or of every domain), oldest first."""
    sql = "SELECT id, domain, algorithm, private_pem, state, created, changed FROM dnssec_keys"
    args: tuple = ()
    if domain is not None:
        sql += " WHERE domain = ?"
        args = (domain,)
    return [SigningKey(**dict(r)) for r in conn.execute(sql + " ORDER BY domain, id", args)]


def _now(conn: sqlite3.Connection) -> str:
    return conn.execute("SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now')").fetchone()[0]


def start_rollover(conn: sqlite3.Connection, domain: str) -> None:
    """Add a ``published`` key to ``domain``. Conflict while a rollover is
    under way (a published or retired key exists); NotFound without keys."""
    states = [k.state for k in keys(conn, domain)]
    if not states:
        raise NotFound(f"{domain} has no DNSSEC key")
    if "published" in states or "retired" in states:
        raise Conflict(f"a key rollover of {domain} is already under way ({', '.join(sorted(set(states)))})")
    _insert(conn, domain, "published")


def switch_rollover(conn: sqlite3.Connection, domain: str) -> None:
    """Make the published key sign (``active``) and retire the old one.
    Conflict when no key is published."""
    states = {k.state: k for k in keys(conn, domain)}
    if "published" not in states:
        raise Conflict(f"no new key of {domain} is published: start the rollover first")
    now = _now(conn)
    conn.execute("UPDATE dnssec_keys SET state = 'retired', changed = ? WHERE domain = ? AND state = 'active'", (now, domain))
    conn.execute("UPDATE dnssec_keys SET state = 'active', changed = ? WHERE domain = ? AND state = 'published'", (now, domain))


def finish_rollover(conn: sqlite3.Connection, domain: str, not_after: str | None = None) -> int:
    """Remove ``domain``'s retired keys; how many. Conflict when none is
    retired, or when ``not_after`` (an ISO time) is given and a retired key
    changed after it (resolvers may still hold its signatures)."""
    retired = [k for k in keys(conn, domain) if k.state == "retired"]
    if not retired:
        raise Conflict(f"no retired key of {domain}: switch the rollover first")
    if not_after is not None and any(k.changed > not_after for k in retired):
        raise Conflict(f"the old key of {domain} was retired at {max(k.changed for k in retired)}; "
                       "resolvers may still hold its signatures: wait, or force")
    return conn.execute("DELETE FROM dnssec_keys WHERE domain = ? AND state = 'retired'", (domain,)).rowcount
