"""A business's own DNS records, in the business's own file.

Each record belongs to one of the business's domains and is stored with its
owner name relative to that domain (``@`` for the domain itself), so a
renamed free domain carries its records along (``ON UPDATE CASCADE``) and a
removed domain takes them with it (``ON DELETE CASCADE``).

Values are stored in the canonical text form the caller produced
(``appliance.zones.check_record``); this module enforces only uniqueness and
the count limit.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

from .errors import Conflict, LimitExceeded, NotFound

MIGRATIONS = sqlite_utils.Migrations("dns")


@MIGRATIONS(name="0001_dns_records")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE dns_records (
            id INTEGER PRIMARY KEY,
            domain TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE ON UPDATE CASCADE,
            name TEXT NOT NULL,
            type TEXT NOT NULL,
            value TEXT NOT NULL,
            ttl INTEGER NOT NULL,
            created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
            UNIQUE (domain, name, type, value)
        );
        """
    )


def list_records(conn: sqlite3.Connection, domain: str | None = None) -> list[dict]:
    """Records of one domain (or all), ordered by domain, name, type, value."""
    sql = "SELECT domain, name, type, value, ttl, created FROM dns_records"
    args: tuple = ()
    if domain is not None:
        sql += " WHERE domain = ?"
        args = (domain,)
    return [dict(r) for r in conn.execute(sql + " ORDER BY domain, name, type, value", args)]


def add_record(conn: sqlite3.Connection, domain: str, name: str, rtype: str, value: str, ttl: int, limit: int) -> None:
    """Store one record; Conflict when it exists, LimitExceeded past ``limit``.

    Records of one RRset share a TTL (RFC 2181 section 5.2): adding one
    with a different TTL sets the TTL of the whole set.
    """
    if conn.execute(
        "SELECT 1 FROM dns_records WHERE domain = ? AND name = ? AND type = ? AND value = ?", (domain, name, rtype, value)
    ).fetchone():
        raise Conflict(f"that {rtype} record already exists at {domain if name == '@' else f'{name}.{domain}'}")
    count = conn.execute("SELECT count(*) FROM dns_records").fetchone()[0]
    if count >= limit:
        raise LimitExceeded(f"the business already has {count} DNS records (limit {limit})")
    conn.execute(
        "INSERT INTO dns_records (domain, name, type, value, ttl) VALUES (?, ?, ?, ?, ?)", (domain, name, rtype, value, ttl)
    )
    conn.execute("UPDATE dns_records SET ttl = ? WHERE domain = ? AND name = ? AND type = ?", (ttl, domain, name, rtype))


def remove_records(conn: sqlite3.Connection, domain: str, name: str, rtype: str, value: str | None = None) -> int:
    """Remove the RRset (or the one record with ``value``); NotFound if none."""
    sql = "DELETE FROM dns_records WHERE domain = ? AND name = ? AND type = ?"
    args: tuple = (domain, name, rtype)
    if value is not None:
        sql += " AND value = ?"
        args += (value,)
    removed = conn.execute(sql, args).rowcount
    if not removed:
        owner = domain if name == "@" else f"{name}.{domain}"
        raise NotFound(f"no {rtype} record{' with that value' if value is not None else ''} at {owner} that the business added")
    return removed
