"""The database contract: pragmas, group commit, per-write isolation,
read snapshots, migrations applied once."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
import sqlite_utils

from storage.database import READ_MMAP_BYTES, Database, apply_migrations, connect

KV = sqlite_utils.Migrations("kv")


@KV(name="0001_kv")
def _kv(db):
    db.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB NOT NULL)")


@pytest.fixture
def db(tmp_path):
    database = Database(tmp_path / "t.sqlite3", [KV])
    yield database
    database.close()


def test_connection_pragmas(tmp_path):
    """Every connection is WAL, synchronous=FULL, foreign keys on, busy timeout set."""
    conn = connect(tmp_path / "p.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    conn.close()


def test_reads_map_the_file_and_the_writer_does_not(db):
    """Read connections read pages through a memory map (READ_MMAP_BYTES);
    the writer's connection keeps plain I/O."""
    assert db.read_sync("mmap", lambda c: c.execute("PRAGMA mmap_size").fetchone()[0]) == READ_MMAP_BYTES
    assert db.write_sync("mmap", lambda c: c.execute("PRAGMA mmap_size").fetchone()[0]) == 0


def test_concurrent_writes_are_grouped_and_each_caller_gets_its_answer(db):
    """500 concurrent writers: fewer transactions than writes, every result right, nothing lost."""

    async def run():
        async def put(i):
            return await db.write("put", lambda c: c.execute("INSERT INTO kv VALUES (?, ?)", (f"k{i}", b"x" * 1000)).lastrowid)

        return await asyncio.gather(*(put(i) for i in range(500)))

    rowids = asyncio.run(run())
    assert sorted(rowids) == list(range(1, 501))
    assert db.stats.writes == 500
    assert db.stats.transactions < 500
    rows = db.read_sync("all", lambda c: dict(c.execute("SELECT k, rowid FROM kv").fetchall()))
    assert {f"k{i}" for i in range(500)} == set(rows)


def test_failing_write_rolls_back_only_itself(db):
    """One caller's exception undoes its own changes; others in the same batch commit."""
    barrier = threading.Event()

    def slow(conn):
        barrier.wait(5)
        conn.execute("INSERT INTO kv VALUES ('first', x'00')")

    def bad(conn):
        conn.execute("INSERT INTO kv VALUES ('bad', x'00')")
        raise ValueError("refused")

    def good(conn):
        conn.execute("INSERT INTO kv VALUES ('good', x'00')")
        return "ok"

    f0 = db.submit_write("slow", slow)
    f1 = db.submit_write("bad", bad)
    f2 = db.submit_write("good", good)
    barrier.set()
    f0.result(5)
    with pytest.raises(ValueError, match="refused"):
        f1.result(5)
    assert f2.result(5) == "ok"
    keys = db.read_sync("keys", lambda c: sorted(r[0] for r in c.execute("SELECT k FROM kv")))
    assert keys == ["first", "good"]


def test_write_result_arrives_only_after_commit(db, tmp_path):
    """When write() returns, another connection already sees the row."""
    db.write_sync("put", lambda c: c.execute("INSERT INTO kv VALUES ('seen', x'01')"))
    other = sqlite3.connect(tmp_path / "t.sqlite3")
    assert other.execute("SELECT count(*) FROM kv WHERE k = 'seen'").fetchone()[0] == 1
    other.close()


def test_reads_run_in_a_snapshot_and_cannot_write(db):
    """A read function sees one snapshot and its connection is read-only."""
    db.write_sync("put", lambda c: c.execute("INSERT INTO kv VALUES ('a', x'01')"))
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        db.read_sync("sneaky write", lambda c: c.execute("INSERT INTO kv VALUES ('b', x'01')"))
    assert db.read_sync("count", lambda c: c.execute("SELECT count(*) FROM kv").fetchone()[0]) == 1


def test_migrations_run_twice_are_a_no_op(tmp_path):
    """Opening a current file applies nothing and changes nothing."""
    path = tmp_path / "m.sqlite3"
    first = Database(path, [KV])
    assert first.applied == ["kv:0001_kv"]
    first.write_sync("put", lambda c: c.execute("INSERT INTO kv VALUES ('a', x'01')"))
    first.close()
    second = Database(path, [KV])
    assert second.applied == []
    assert second.read_sync("n", lambda c: c.execute("SELECT count(*) FROM kv").fetchone()[0]) == 1
    second.close()
    conn = connect(path)
    assert apply_migrations(conn, [KV]) == []
    conn.close()


def test_failed_migration_leaves_the_file_unchanged(tmp_path):
    """A migration that raises is rolled back with everything before it in that open."""
    broken = sqlite_utils.Migrations("broken")

    @broken(name="0001_ok")
    def _ok(db):
        db.execute("CREATE TABLE t1 (x)")

    @broken(name="0002_fails")
    def _fails(db):
        db.execute("CREATE TABLE t2 (x)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        Database(tmp_path / "b.sqlite3", [broken])
    conn = sqlite3.connect(tmp_path / "b.sqlite3")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "t1" not in tables and "t2" not in tables
    conn.close()


def test_closed_database_refuses_new_work(tmp_path):
    """After close() a write raises DatabaseClosed instead of hanging."""
    from storage.errors import DatabaseClosed

    database = Database(tmp_path / "c.sqlite3", [KV])
    database.close()
    with pytest.raises(DatabaseClosed):
        database.write_sync("late", lambda c: None)


def test_a_read_cancelled_before_it_ran_does_not_hold_close(tmp_path):
    """A read whose caller gave up while every worker was busy (an asyncio
    task cancelled at shutdown) never runs; close() still returns once the
    work that did run ends, instead of waiting for it for ever."""
    database = Database(tmp_path / "r.sqlite3", [KV], readers=1)
    release = threading.Event()
    started = threading.Barrier(3)

    def hold(conn):
        started.wait(10)
        release.wait(10)

    # Both workers (readers + 1) held, so the next read waits in the queue.
    held = [database.submit_read("hold", hold) for _ in range(2)]
    started.wait(10)
    waiting = database.submit_read("never", lambda c: None)
    assert waiting.cancel()
    release.set()
    for future in held:
        future.result(10)
    closer = threading.Thread(target=database.close, daemon=True)
    closer.start()
    closer.join(10)
    assert not closer.is_alive(), "close() still waits for the cancelled read"


def test_read_connections_opened_while_reads_overlap_are_kept_until_trimmed(tmp_path):
    """Reads that overlap each open a connection; they are reused by the
    next burst instead of reopened (opening costs more than most reads),
    and trim_readers() leaves only ``readers`` of them."""
    from storage.workers import Workers

    workers = Workers(4, "overlap")
    database = Database(tmp_path / "o.sqlite3", [KV], readers=1, workers=workers)
    try:
        seen: list[sqlite3.Connection] = []  # held, so no id is reused
        for _burst in range(3):
            together = threading.Barrier(4)

            def overlapping(conn):
                together.wait(10)
                seen.append(conn)

            for future in [database.submit_read("overlap", overlapping) for _ in range(4)]:
                future.result(10)
        assert len({id(c) for c in seen}) == 4, "the second and third bursts opened new connections"
        assert database.trim_readers() == 3
        assert database.trim_readers() == 0
        assert database.read_sync("after", lambda c: c.execute("SELECT count(*) FROM kv").fetchone()[0]) == 0
    finally:
        database.close()
        workers.shutdown()


def test_a_quick_read_runs_on_the_calling_thread_and_goes_to_a_worker_when_it_would_wait(tmp_path):
    """read_quick runs on the event loop's thread; a read refused there
    because a lock is held (SQLITE_BUSY: raised here by the function itself
    when it runs on the loop, as SQLite would with busy_timeout 0) runs
    again on a worker, which waits for locks as usual. Other errors are
    the caller's."""
    database = Database(tmp_path / "q.sqlite3", [KV])
    try:
        database.write_sync("one", lambda c: c.execute("INSERT INTO kv VALUES ('a', x'01')"))

        async def main():
            here = threading.get_ident()
            thread, value = await database.read_quick(
                "quick", lambda c: (threading.get_ident(), c.execute("SELECT v FROM kv").fetchone()[0]))
            assert thread == here and value == b"\x01"
            assert await database.read_quick("timeout", lambda c: c.execute("PRAGMA busy_timeout").fetchone()[0]) == 0

            def busy_on_the_loop(conn):
                if threading.get_ident() == here:
                    raise sqlite3.OperationalError("database is locked")
                return threading.get_ident(), conn.execute("SELECT v FROM kv").fetchone()[0]

            thread, value = await database.read_quick("busy", busy_on_the_loop)
            assert thread != here and value == b"\x01"

            def broken(conn):
                raise sqlite3.OperationalError("no such table: nothing")

            with pytest.raises(sqlite3.OperationalError, match="no such table"):
                await database.read_quick("broken", broken)

        asyncio.run(main())
        assert not database.busy
    finally:
        database.close()
