"""The reseller's brand as operators set it in the panel, in the box
database: one row, each column NULL where the settings file (``[brand]``)
still decides. The logo is kept as the PNG the panel serves.

Values arrive checked (:mod:`appliance.brandrules`); this module only
stores them.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

MIGRATIONS = sqlite_utils.Migrations("brand")

#: The columns an operator may set besides the logo.
FIELDS = ("name", "colour", "support_email", "support_url")


@MIGRATIONS(name="0001_brand")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE brand (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            name TEXT,
            colour TEXT,
            support_email TEXT,
            support_url TEXT,
            logo BLOB,
            changed TEXT NOT NULL
        );
        """
    )


def get(conn: sqlite3.Connection) -> dict:
    """The stored values ({} when none was ever set); None: not set."""
    row = conn.execute("SELECT name, colour, support_email, support_url, logo, changed FROM brand WHERE id = 1").fetchone()
    if row is None:
        return {}
    out = {k: row[k] for k in (*FIELDS, "changed")}
    out["logo"] = bytes(row["logo"]) if row["logo"] is not None else None
    return out


def _ensure(conn: sqlite3.Connection, changed: str) -> None:
    conn.execute("INSERT INTO brand (id, changed) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET changed = excluded.changed",
                 (changed,))


def set_fields(conn: sqlite3.Connection, values: dict[str, str], changed: str) -> None:
    """Store ``values`` (keys of :data:`FIELDS`); the others stay as they are."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError(f"no brand fields {sorted(unknown)}")
    _ensure(conn, changed)
    for key, value in values.items():
        conn.execute(f"UPDATE brand SET {key} = ? WHERE id = 1", (value,))


def set_logo(conn: sqlite3.Connection, png: bytes | None, changed: str) -> None:
    """Store the logo's PNG, or None: the settings' logo again."""
    _ensure(conn, changed)
    conn.execute("UPDATE brand SET logo = ? WHERE id = 1", (png,))
