"""Many business files served by a few shared worker threads: each file's
writes stay serialised and durable, threads do not grow with the files,
and a read asked for from inside a write never waits for a free worker."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from storage import directory, schema
from storage.tenants import TenantPool

PLAN = directory.Plan("standard", 10, 2**30, 50 * 2**20, 500)
FILES = 12
WRITES = 40


def make(pool: TenantPool, slug: str) -> None:
    pool.get(slug, create=True).write_sync(
        "init", lambda c: directory.init_tenant(c, slug, slug.title(), PLAN, f"{slug}.box.test")
    )
    pool.get(slug).write_sync("table", lambda c: c.execute("CREATE TABLE seen (n INTEGER PRIMARY KEY, writer TEXT)"))


@pytest.fixture
def pool(tmp_path):
    p = TenantPool(tmp_path / "tenants", schema.TENANT_MIGRATIONS, max_open=4, idle_seconds=3600, workers=2)
    yield p
    p.close_all()


def db_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("db")}


def test_concurrent_writes_to_many_files_are_serialised_per_file_and_all_committed(pool):
    """480 writes to 12 files (4 open at most) at once, on 2 shared threads:
    no two writes of one file ever overlap, every acknowledged row is in its
    file (read back by a connection of its own), and only the pool's 2
    threads ever ran database work."""
    for i in range(FILES):
        make(pool, f"b{i}")
    inside: set[str] = set()
    overlaps: list[str] = []
    guard = threading.Lock()

    def writer(slug: str, n: int):
        def fn(conn: sqlite3.Connection) -> int:
            with guard:
                if slug in inside:
                    overlaps.append(slug)
                inside.add(slug)
            try:
                conn.execute("INSERT INTO seen (n, writer) VALUES (?, ?)", (n, threading.current_thread().name))
                return n
            finally:
                with guard:
                    inside.discard(slug)
        return fn

    async def run() -> list[int]:
        calls = [pool.handle(f"b{i}").write("seen", writer(f"b{i}", n)) for n in range(WRITES) for i in range(FILES)]
        return await asyncio.gather(*calls)

    results = asyncio.run(run())
    assert sorted(results) == sorted(n for n in range(WRITES) for _ in range(FILES))
    assert overlaps == []
    assert pool.open_count <= 4
    writers = set()
    for i in range(FILES):
        conn = sqlite3.connect(pool.path(f"b{i}"))
        rows = conn.execute("SELECT n, writer FROM seen ORDER BY n").fetchall()
        conn.close()
        assert [r[0] for r in rows] == list(range(WRITES))
        writers |= {r[1] for r in rows}
    assert len(writers) <= 2 and all(name.startswith("db_") for name in writers)
    assert len(db_threads()) <= 2


def test_a_read_inside_a_write_runs_with_a_single_worker(tmp_path):
    """With one worker thread, a write that reads another business file
    (and its own) completes: the read runs inline instead of waiting for
    the worker that is busy running the write."""
    pool = TenantPool(tmp_path / "tenants", schema.TENANT_MIGRATIONS, max_open=4, idle_seconds=3600, workers=1)
    try:
        make(pool, "one")
        make(pool, "two")
        other = pool.handle("two")

        def fn(conn: sqlite3.Connection) -> str:
            name = other.read_sync("name", lambda c: directory.get_tenant(c).name)
            conn.execute("INSERT INTO seen (n, writer) VALUES (1, ?)", (name,))
            return name

        assert pool.handle("one").write_sync("cross read", fn) == "Two"
        assert pool.handle("one").read_sync("row", lambda c: c.execute("SELECT writer FROM seen").fetchone()[0]) == "Two"
    finally:
        pool.close_all()


def test_closing_the_pool_stops_its_threads_and_a_later_use_starts_them(pool):
    """close_all closes every file and ends the worker threads; the next
    call through a handle reopens the file on new workers."""
    make(pool, "a")
    assert db_threads()
    pool.close_all()
    for thread in [t for t in threading.enumerate() if t.name.startswith("db_")]:
        thread.join(5)
    assert not db_threads()
    assert pool.handle("a").read_sync("name", lambda c: directory.get_tenant(c).name) == "A"


def test_sweep_reads_a_closed_file_without_keeping_it_open(pool):
    """sweep_read of a business that is not open leaves the pool as it was
    (nothing opened, nothing evicted) and reads the file as it is on disk."""
    for slug in ("a", "b", "c", "d", "e"):
        make(pool, slug)
    before = list(pool._open)
    assert "a" not in before
    for _ in range(2):  # the first opens and migrates, the second reads plainly
        assert pool.sweep_read("a", "name", lambda c: directory.get_tenant(c).name) == "A"
        assert list(pool._open) == before


def test_closing_a_file_from_inside_another_files_write_never_waits_for_the_worker(tmp_path):
    """With one worker, a write on one file that closes another file with a
    read still queued returns at once; the read runs after it, on the same
    worker, and the other file's connections close when it ends."""
    pool = TenantPool(tmp_path / "tenants", schema.TENANT_MIGRATIONS, max_open=4, idle_seconds=3600, workers=1)
    try:
        make(pool, "a")
        make(pool, "b")
        other = pool.get("b")

        def fn(conn: sqlite3.Connection):
            queued = other.submit_read("name", lambda c: directory.get_tenant(c).name)
            other.close()
            return queued

        queued = pool.handle("a").write_sync("close b", fn)
        assert queued.result(10) == "B"
        assert other.closed and not other.busy
    finally:
        pool.close_all()
