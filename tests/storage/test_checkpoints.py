"""With continuous backups on, storage never checkpoints: Litestream reads
the WAL and ships each change once, so the WAL is its to fold. A business
file replaced behind an open pool is closed, never written to again."""

from __future__ import annotations

import os
import sqlite3

import sqlite_utils

from storage.database import Database
from storage.tenants import TenantPool

KV = sqlite_utils.Migrations("kv")


@KV(name="0001_kv")
def _kv(db):
    db.execute("CREATE TABLE kv (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")


def _fill(db: Database, rows: int) -> None:
    # 4 KiB values: each row is at least one page of the WAL.
    for k in range(rows):
        db.write_sync("fill", lambda conn, k=k: conn.execute("INSERT INTO kv VALUES (?, ?)", (k, b"x" * 4096)))


def _wal_pages(path) -> int:
    return (os.path.getsize(f"{path}-wal") - 32) // (4096 + 24)


def test_without_checkpoints_the_wal_keeps_every_page(tmp_path):
    """Past SQLite's automatic threshold (1,000 pages) nothing is folded,
    and checkpoint() leaves the WAL whole; the default folds it."""
    kept = Database(tmp_path / "kept.sqlite3", [KV], checkpoints=False)
    folded = Database(tmp_path / "folded.sqlite3", [KV])
    try:
        for db in (kept, folded):
            _fill(db, 1200)
            db.checkpoint()
        assert _wal_pages(kept.path) >= 1200 * 2
        assert os.path.getsize(f"{folded.path}-wal") == 0
        reader = sqlite3.connect(kept.path)
        assert reader.execute("SELECT count(*) FROM kv").fetchone()[0] == 1200
        reader.close()
    finally:
        kept.close()
        folded.close()


def test_a_file_replaced_behind_the_pool_is_closed_and_reopened(tmp_path):
    """After another process puts a new file at a business's path, the pool
    closes the old one and writes land in the new file."""
    pool = TenantPool(tmp_path / "tenants", [KV], checkpoints=False)
    try:
        pool.get("acme", create=True).write_sync("a", lambda c: c.execute("INSERT INTO kv VALUES (1, 'old')"))
        other = TenantPool(tmp_path / "other", [KV])
        other.get("acme", create=True).write_sync("b", lambda c: c.execute("INSERT INTO kv VALUES (2, 'new')"))
        other.close_all()
        assert pool.close_replaced() == []
        # As a remove then an import do: the old file and its WAL go first.
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / "tenants" / f"acme.sqlite3{suffix}").unlink(missing_ok=True)
        os.replace(tmp_path / "other" / "acme.sqlite3", pool.path("acme"))
        assert pool.close_replaced() == ["acme"]
        pool.get("acme").write_sync("c", lambda c: c.execute("INSERT INTO kv VALUES (3, 'after')"))
        rows = pool.get("acme").read_sync("r", lambda c: [r[0] for r in c.execute("SELECT k FROM kv ORDER BY k")])
        assert rows == [2, 3]
    finally:
        pool.close_all()
