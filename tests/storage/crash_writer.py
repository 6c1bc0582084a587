"""A writer process for the SIGKILL test: writes rows from many concurrent
tasks and prints each key on stdout the moment its write is acknowledged."""

import asyncio
import sys

import sqlite_utils

from storage.database import Database

KV = sqlite_utils.Migrations("kv")


@KV(name="0001_kv")
def _kv(db):
    db.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB NOT NULL)")


async def main(path: str, writers: int) -> None:
    db = Database(path, [KV])
    payload = b"x" * 50_000

    async def writer(w: int) -> None:
        for i in range(100_000):
            key = f"{w}-{i}"
            await db.write("put", lambda c, key=key: c.execute("INSERT INTO kv VALUES (?, ?)", (key, payload)))
            sys.stdout.write(key + "\n")
            sys.stdout.flush()

    await asyncio.gather(*(writer(w) for w in range(writers)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
