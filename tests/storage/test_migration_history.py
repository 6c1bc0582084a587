"""Migrations are forward-only and keep data: every schema a released
version could have left behind upgrades to the current one.

For each migrated store (the box database and a business file), and for
every point in its migration history (the migration sets applied in their
dependency order, each one migration at a time), a file is built with only
the migrations up to that point, every table of it gets a row, and the file
is then opened with the current code. Every row is still there (on the
columns it had), the file passes ``integrity_check`` and
``foreign_key_check``, and its schema is exactly a fresh file's.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from storage import schema
from storage.database import Database, connect

STORES = {"box": schema.BOX_MIGRATIONS, "business": schema.TENANT_MIGRATIONS}

#: Columns whose CHECK or later readers want a value of their own shape
#: (the generic "x" elsewhere).
SAMPLES = {"structure": "{}", "currency": "EUR", "day": "2026-01-01"}

#: Tables whose rows a later migration moves elsewhere on purpose, with
#: where they go: (store, table) -> table that holds them afterwards.
MOVED: dict[tuple[str, str], str] = {}

#: Columns a later migration changes on purpose, with the migration's reason:
#: (store, table) -> columns not compared.
RESET: dict[tuple[str, str], set[str]] = {
    # dav 0002_dav_feeds_off: calendar feeds are off until turned on again.
    ("business", "dav_collections"): {"feed_token"},
}


def history(sets) -> list[tuple[int, str]]:
    """Every point of the history: (index of the set, name of its last
    migration applied), in the order a file goes through them."""
    return [(i, m.name) for i, s in enumerate(sets) for m in s._migrations]


def points() -> list:
    return list(_points())


def _points():
    for store, sets in STORES.items():
        steps = history(sets)
        # The last point is the current schema: nothing to upgrade from.
        for n, (i, name) in enumerate(steps[:-1]):
            yield pytest.param(store, n, id=f"{store}-{sets[i].name}:{name}")


def build(path: Path, sets, upto: int) -> None:
    """A file with the migrations of ``history(sets)[:upto + 1]`` only."""
    conn = connect(path)
    db = sqlite_utils.Database(conn, execute_plugins=False, recursive_triggers=False)
    steps = history(sets)
    last_set, last_name = steps[upto]
    for i, migrations in enumerate(sets[: last_set + 1]):
        if i < last_set:
            migrations.apply(db)
            continue
        names = [m.name for m in migrations._migrations]
        after = names[names.index(last_name) + 1:]
        migrations.apply(db, stop_before=after[0] if after else None)
    conn.close()


def user_tables(conn: sqlite3.Connection) -> list[str]:
    """Ordinary tables in creation order (parents before children), without
    SQLite's, sqlite-utils' and full-text shadow tables."""
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY rowid").fetchall()
    virtual = {r[0] for r in rows if (r[1] or "").upper().startswith("CREATE VIRTUAL")}
    return [
        r[0] for r in rows
        if not r[0].startswith(("sqlite_", "_sqlite_")) and r[0] not in virtual
        and not any(r[0].startswith(v + "_") for v in virtual)
    ]


def sample_value(table_sql: str, column: dict):
    """One value for ``column``. The same few constants everywhere, so that
    a foreign key (``domain`` -> ``domains.name``) finds the parent row the
    same rule put there; a ``CHECK (col IN (...))`` gets its first choice."""
    if column["name"] in SAMPLES:
        return SAMPLES[column["name"]]
    name = re.escape(column["name"])
    choice = re.search(rf"\b{name}\b[^,]*?CHECK\s*\((?:\s*{name}\s+IS\s+NULL\s+OR)?\s*{name}\s+IN\s*\(\s*'([^']*)'",
                       table_sql, re.I | re.S)
    if choice:
        return choice.group(1)
    kind = (column["type"] or "").upper()
    if "INT" in kind or "BOOL" in kind:
        return 1
    if "REAL" in kind or "FLOA" in kind:
        return 1.5
    if "BLOB" in kind:
        return b"\x00old row\xff"
    return "x"


def fill(conn: sqlite3.Connection) -> dict[str, list[dict]]:
    """Put one row into every empty table (a row its constraints refuse
    leaves it empty); return what each table holds afterwards (its rows as
    dicts)."""
    for table in user_tables(conn):
        if conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]:
            continue  # a migration seeded it already
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        columns = [dict(r) for r in conn.execute(f'PRAGMA table_info("{table}")')]
        names = [c["name"] for c in columns]
        values = [sample_value(sql, c) for c in columns]
        try:
            conn.execute(f'INSERT INTO "{table}" ({", ".join(map(repr, names))}) VALUES ({", ".join("?" * len(names))})'
                         .replace("'", '"'), values)
        except sqlite3.IntegrityError:
            pass  # a constraint the generic row does not meet: the table stays empty
    return {t: [dict(r) for r in conn.execute(f'SELECT * FROM "{t}"')] for t in user_tables(conn)}


def schema_of(conn: sqlite3.Connection) -> list[tuple]:
    entries = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_autoindex%' ORDER BY type, name"
    ).fetchall()
    columns = [(t, tuple(tuple(r) for r in conn.execute(f'PRAGMA table_xinfo("{t}")')))
               for t in user_tables(conn)]
    return [tuple(e) for e in entries] + columns


def migrations_done(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return sorted(tuple(r) for r in conn.execute("SELECT migration_set, name FROM _sqlite_migrations"))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> dict[str, tuple[list, list]]:
    """Each store's schema and applied migrations when created by the current code."""
    out = {}
    for store, sets in STORES.items():
        path = tmp_path_factory.mktemp("fresh") / f"{store}.sqlite3"
        Database(path, sets, name=store).close()
        conn = sqlite3.connect(path)
        out[store] = (schema_of(conn), migrations_done(conn))
        conn.close()
    return out


@pytest.mark.parametrize("store,upto", points())
def test_an_old_schema_upgrades_with_its_data(tmp_path, fresh, store, upto):
    """A file left by an older version, with data in it, opens with the
    current code: every row kept, the schema a fresh file's."""
    sets = STORES[store]
    path = tmp_path / f"{store}.sqlite3"
    build(path, sets, upto)
    conn = connect(path)
    before = fill(conn)
    conn.close()
    empty = [t for t, rows in before.items() if not rows]
    assert not empty, f"tables without a row prove nothing: give sample_value what they need: {empty}"

    Database(path, sets, name=store).close()  # what the daemon does when it opens the file

    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        for table, rows in before.items():
            target = MOVED.get((store, table), table)
            after = [dict(r) for r in conn.execute(f'SELECT * FROM "{target}"')]
            for row in rows:
                reset = RESET.get((store, table), set())
                kept = {k: v for k, v in row.items() if after and k in after[0] and k not in reset}
                assert any(all(a.get(k) == v for k, v in kept.items()) for a in after), (table, row, after)
        assert schema_of(conn) == fresh[store][0]
        assert migrations_done(conn) == fresh[store][1]
    finally:
        conn.close()


def test_history_covers_every_migration():
    """The history walked above is every migration of every set, each once."""
    for sets in STORES.values():
        steps = history(sets)
        assert len(steps) == sum(len(s._migrations) for s in sets) == len(set(steps))
