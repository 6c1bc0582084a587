"""Storage benchmark (run by hand: ``.venv/bin/python bench/storage.py``).

1. Acknowledged 50 KB inserts per second through ``Database.write`` with
   group commit, against the same writer committing each insert on its own
   (``MAX_GROUP = 1``), from 1, 10 and 50 concurrent writers; prints the ratio.
2. Time and peak memory to open, touch (one read, one write) and close 1,000
   business files through ``TenantPool``.

Every write is ``synchronous=FULL``, so the figures are bounded by fsync on
the machine's disk; compare the ratio, not the absolute numbers, across
machines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlite_utils  # noqa: E402

import storage.database as database  # noqa: E402
from storage import directory, schema  # noqa: E402
from storage.tenants import TenantPool  # noqa: E402

KV = sqlite_utils.Migrations("bench")


@KV(name="0001")
def _kv(db):
    db.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")


PAYLOAD = os.urandom(50 * 1024)


async def inserts_per_second(path: Path, writers: int, seconds: float) -> float:
    db = database.Database(path, [KV])
    done = 0
    deadline = time.monotonic() + seconds

    async def writer():
        nonlocal done
        while time.monotonic() < deadline:
            await db.write("bench insert", lambda c: c.execute("INSERT INTO blobs (body) VALUES (?)", (PAYLOAD,)))
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(writer() for _ in range(writers)))
    elapsed = time.monotonic() - started
    db.close()
    return done / elapsed


def run_inserts(work: Path, seconds: float) -> None:
    print(f"acknowledged 50 KB inserts/s ({seconds:.0f} s per run, synchronous=FULL)")
    print(f"{'writers':>8} {'group commit':>14} {'commit each':>13} {'ratio':>7}")
    for writers in (1, 10, 50):
        database.MAX_GROUP = 256
        grouped = asyncio.run(inserts_per_second(work / f"g{writers}.sqlite3", writers, seconds))
        database.MAX_GROUP = 1
        single = asyncio.run(inserts_per_second(work / f"s{writers}.sqlite3", writers, seconds))
        database.MAX_GROUP = 256
        print(f"{writers:>8} {grouped:>14.0f} {single:>13.0f} {grouped / single:>6.1f}x")


def run_tenants(work: Path, count: int) -> None:
    pool = TenantPool(work / "tenants", schema.TENANT_MIGRATIONS, max_open=64, idle_seconds=3600)
    plan = directory.Plan("standard", 10, 2**30, 50 * 2**20, 500)
    started = time.monotonic()
    for i in range(count):
        slug = f"t{i}"
        pool.get(slug, create=True).write_sync(
            "init", lambda c, slug=slug: directory.init_tenant(c, slug, slug, plan, f"{slug}.box.test")
        )
    pool.close_all()
    created = time.monotonic() - started
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    for i in range(count):
        handle = pool.handle(f"t{i}")
        handle.read_sync("touch", lambda c: directory.get_tenant(c).slug)
        handle.write_sync("touch", lambda c: directory.bump_usage(c, "bench"))
    pool.close_all()
    touched = time.monotonic() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"\n{count} business files (at most 64 open at once)")
    print(f"  create (migrate + first write): {created:.2f} s, {created / count * 1000:.1f} ms each")
    print(f"  open, read, write, close:       {touched:.2f} s, {touched / count * 1000:.1f} ms each")
    print(f"  peak RSS: {rss_after / 1024:.0f} MiB (before the touch pass {rss_before / 1024:.0f} MiB)")
    print(f"  files open after close_all: {pool.open_count}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each insert run")
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--dir", help="work directory (default: a temporary one; put it on the disk you care about)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        run_inserts(work, args.seconds)
        run_tenants(work, args.tenants)


if __name__ == "__main__":
    main()
