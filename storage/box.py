"""The box database: the catalog of businesses (slug -> file) and of domains
(domain -> business), plus the box's own settings.

It is an index, rebuildable from the business files (:func:`rebuild`): each
business's file holds its own row and domains, which are the truth.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

from .errors import Conflict, NotFound

MIGRATIONS = sqlite_utils.Migrations("box")


@MIGRATIONS(name="0001_catalog")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE tenants (
            slug TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'active',
            created TEXT NOT NULL
        );
        CREATE TABLE domains (
            name TEXT PRIMARY KEY,
            slug TEXT NOT NULL REFERENCES tenants(slug) ON DELETE CASCADE
        );
        CREATE INDEX domains_by_slug ON domains(slug);
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        INSERT INTO meta (key, value) VALUES ('generation', '0');
        """
    )


@MIGRATIONS(name="0002_dns_serials")
def _m0002(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE dns_serials (
            zone TEXT PRIMARY KEY,
            hash TEXT NOT NULL,
            serial INTEGER NOT NULL
        );
        """
    )


def dns_serials(conn: sqlite3.Connection) -> dict[str, tuple[str, int]]:
    """Each zone's content hash and SOA serial, as last published."""
    return {r["zone"]: (r["hash"], r["serial"]) for r in conn.execute("SELECT zone, hash, serial FROM dns_serials")}


def set_dns_serials(conn: sqlite3.Connection, serials: dict[str, tuple[str, int]]) -> None:
    conn.execute("DELETE FROM dns_serials")
    conn.executemany(
        "INSERT INTO dns_serials (zone, hash, serial) VALUES (?, ?, ?)",
        [(zone, digest, serial) for zone, (digest, serial) in serials.items()],
    )


def bump_generation(conn: sqlite3.Connection) -> None:
    """Record that the catalog or a business's directory changed.

    The daemon polls the generation to learn of changes the CLI (another
    process) made, and rebuilds what depends on them (DNS zones, routes).
    """
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")


def announce_catalog(conn: sqlite3.Connection) -> int:
    """Count one more announcement of the box's catalog zone; returns the
    count (the caller bumps the generation so the daemon rebuilds). The count is in the catalog's content
    (:func:`appliance.zones.catalog_zone`), so its serial changes and the
    secondaries transfer it whole and read every member again."""
    conn.execute("INSERT INTO meta (key, value) VALUES ('catalog_announced', '1')"
                 " ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1")
    return catalog_announced(conn)


def catalog_announced(conn: sqlite3.Connection) -> int:
    """How many times the catalog was announced (0: never)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'catalog_announced'").fetchone()
    return int(row[0]) if row is not None else 0


def zone_state(conn: sqlite3.Connection) -> tuple[dict[str, tuple[str, int]], int]:
    """What building the zones reads from the box file: the serials last
    published (:func:`dns_serials`) and :func:`catalog_announced`."""
    return dns_serials(conn), catalog_announced(conn)


def mark_alive(conn: sqlite3.Connection, now: float) -> None:
    """Write the time of a health check: proves the box file takes writes."""
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('health_checked', ?)", (repr(now),))


def generation(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])


def has_tenant(conn: sqlite3.Connection, slug: str) -> bool:
    return conn.execute("SELECT 1 FROM tenants WHERE slug = ?", (slug,)).fetchone() is not None


def replace_catalog(conn: sqlite3.Connection, entries: list[tuple[str, str, str, str, list[str]]]) -> None:
    """Replace the whole catalog with ``(slug, name, state, created, domains)``
    entries (read from the business files, which are the truth)."""
    conn.execute("DELETE FROM domains")
    conn.execute("DELETE FROM tenants")
    for slug, name, state, created, domains in entries:
        conn.execute("INSERT INTO tenants (slug, name, state, created) VALUES (?, ?, ?, ?)", (slug, name, state, created))
        for domain in domains:
            conn.execute("INSERT INTO domains (name, slug) VALUES (?, ?)", (domain, slug))
    bump_generation(conn)


def add_tenant(conn: sqlite3.Connection, slug: str, name: str, created: str, domains: list[str]) -> None:
    if conn.execute("SELECT 1 FROM tenants WHERE slug = ?", (slug,)).fetchone():
        raise Conflict(f"business {slug} already exists")
    conn.execute("INSERT INTO tenants (slug, name, created) VALUES (?, ?, ?)", (slug, name, created))
    for name_ in domains:
        claim_domain(conn, slug, name_)
    bump_generation(conn)


def claim_domain(conn: sqlite3.Connection, slug: str, domain: str) -> None:
    """Give ``domain`` to ``slug``; a domain belongs to one business only."""
    owner = conn.execute("SELECT slug FROM domains WHERE name = ?", (domain,)).fetchone()
    if owner is not None:
        if owner["slug"] == slug:
            raise Conflict(f"domain {domain} already belongs to {slug}")
        raise Conflict(f"domain {domain} already belongs to another business")
    conn.execute("INSERT INTO domains (name, slug) VALUES (?, ?)", (domain, slug))
    bump_generation(conn)


def release_domain(conn: sqlite3.Connection, domain: str) -> str:
    """Forget ``domain``; returns the slug it belonged to."""
    owner = conn.execute("SELECT slug FROM domains WHERE name = ?", (domain,)).fetchone()
    if owner is None:
        raise NotFound(f"no business has domain {domain}")
    conn.execute("DELETE FROM domains WHERE name = ?", (domain,))
    bump_generation(conn)
    return owner["slug"]


def set_state(conn: sqlite3.Connection, slug: str, state: str) -> None:
    conn.execute("UPDATE tenants SET state = ? WHERE slug = ?", (state, slug))
    bump_generation(conn)


def remove_tenant(conn: sqlite3.Connection, slug: str) -> None:
    if conn.execute("DELETE FROM tenants WHERE slug = ?", (slug,)).rowcount == 0:
        raise NotFound(f"no business {slug}")
    bump_generation(conn)


def tenant_for_domain(conn: sqlite3.Connection, domain: str) -> str | None:
    row = conn.execute("SELECT slug FROM domains WHERE name = ?", (domain,)).fetchone()
    return row["slug"] if row else None


def get_tenant(conn: sqlite3.Connection, slug: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM tenants WHERE slug = ?", (slug,)).fetchone()
    if row is None:
        raise NotFound(f"no business {slug}")
    return row


def list_tenants(conn: sqlite3.Connection) -> list[dict]:
    rows = conn.execute(
        "SELECT t.slug, t.name, t.state, t.created, group_concat(d.name, ' ') AS domains"
        " FROM tenants t LEFT JOIN domains d ON d.slug = t.slug GROUP BY t.slug ORDER BY t.slug"
    )
    return [
        {**dict(r), "domains": sorted((r["domains"] or "").split())} for r in rows
    ]


def all_domains(conn: sqlite3.Connection) -> list[str]:
    """Every domain any business has."""
    return [r["name"] for r in conn.execute("SELECT name FROM domains")]


def domains_of(conn: sqlite3.Connection, slug: str) -> list[str]:
    return [r["name"] for r in conn.execute("SELECT name FROM domains WHERE slug = ? ORDER BY name", (slug,))]


def catalog(conn: sqlite3.Connection) -> tuple[int, list[dict]]:
    """The generation and every business (as :func:`list_tenants`), read in
    the caller's one snapshot, so the list is at least as new as the number."""
    return generation(conn), list_tenants(conn)
