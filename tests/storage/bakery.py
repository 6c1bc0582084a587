"""One business file, ``bakery``, for the storage tests of the modules that
live in a business's file."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Callable, Iterator

from storage import directory, schema
from storage.database import Database

PLAN = directory.Plan("standard", 10, 1 << 30, 1 << 20, 100)


@contextlib.contextmanager
def business_file(directory_path: Path, then: Callable[[sqlite3.Connection], object] | None = None) -> Iterator[Database]:
    """An open business file with every migration, the business ``bakery``
    created in it, and ``then(conn)`` run in the same transaction; closed on
    exit."""
    database = Database(directory_path / "t.sqlite3", schema.TENANT_MIGRATIONS)

    def init(conn: sqlite3.Connection) -> None:
        directory.init_tenant(conn, "bakery", "Bakery", PLAN, "bakery.appliance.test")
        if then is not None:
            then(conn)

    database.write_sync("init", init)
    try:
        yield database
    finally:
        database.close()
