"""One SQLite file, one writer thread with group commit, a small read pool.

Contract (DESIGN section 3):

* Every connection runs in WAL mode with ``synchronous=FULL``,
  ``foreign_keys=ON`` and a ``busy_timeout``.
* Writes go through :meth:`Database.write` (from the event loop) or
  :meth:`Database.write_sync` (from any other thread). The caller passes a
  function that takes a :class:`sqlite3.Connection`; it runs on the database's
  single writer thread inside ``BEGIN IMMEDIATE``. Writes that are queued
  together share one transaction (group commit); each runs inside its own
  savepoint, so one caller's exception rolls back only that caller's work.
  The caller's result is delivered only after ``COMMIT`` returned, which is
  what lets protocol code acknowledge after the data is on disk.
* Reads go through :meth:`Database.read` / :meth:`Database.read_sync` and run
  on a small pool of read-only connections (WAL readers never block the
  writer).
* Numbered migrations (``sqlite_utils.Migrations`` sets) are applied when the
  file is opened, inside one ``BEGIN IMMEDIATE``.
* With ``checkpoints=False`` (continuous backups on) the file is never
  checkpointed from here: no automatic checkpoints on commit, and
  :meth:`Database.checkpoint` only waits for queued writes. Litestream, which
  reads the WAL and ships each change once, checkpoints instead.

Callers never hold a connection and never run SQL on the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import concurrent.futures.thread  # noqa: F401 - loaded before any privilege drop
import logging
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

import sqlite_utils

from .errors import DatabaseClosed, StorageFull

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a connection waits for a lock held by another process (ms).
BUSY_TIMEOUT_MS = 10_000
#: At most this many queued writes share one transaction.
MAX_GROUP = 256
#: A transaction slower than this is logged with the names of its writes.
SLOW_SECONDS = 0.5
#: How much of the file a read connection maps into memory (``PRAGMA
#: mmap_size``). Listing or searching a mailbox touches a page of metadata
#: per few messages, spread over the file among the bodies; through the
#: map SQLite reads them in place instead of copying each one out of the
#: OS cache with a system call: FETCH 1:* (FLAGS ENVELOPE) and SEARCH
#: SUBJECT over 2,000 messages took about half the time. Address space
#: only: the pages are the OS cache's, shared, and dropped with the
#: connection when an idle file is closed. The writer does not map.
READ_MMAP_BYTES = 1 << 30


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open ``path`` with the pragmas every connection of ours must have.

    The connection is in autocommit mode (``isolation_level=None``): callers
    issue ``BEGIN IMMEDIATE`` themselves, because a deferred transaction that
    upgrades to a write fails at once under contention.
    """
    if readonly:
        uri = Path(path).resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if not readonly:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise sqlite3.OperationalError(f"cannot switch {path} to WAL (got {mode})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def apply_migrations(conn: sqlite3.Connection, sets: Iterable[sqlite_utils.Migrations]) -> list[str]:
    """Apply every pending migration of ``sets`` in one write transaction.

    Returns the names applied (``set:name``); an empty list means the file was
    already current, so running this twice is a no-op.
    """
    db = sqlite_utils.Database(conn, execute_plugins=False, recursive_triggers=False)
    applied: list[str] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for migrations in sets:
            pending = [m.name for m in migrations.pending(db)]
            if pending:
                # Inside our transaction sqlite-utils' atomic() uses savepoints.
                migrations.apply(db)
                applied.extend(f"{migrations.name}:{name}" for name in pending)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return applied


def quick_check(conn: sqlite3.Connection) -> str:
    """SQLite's ``PRAGMA quick_check``: ``"ok"``, or the first problem found."""
    return conn.execute("PRAGMA quick_check").fetchone()[0]


@contextlib.contextmanager
def savepoint(conn: sqlite3.Connection, name: str) -> Iterator[None]:
    """Run the block inside ``SAVEPOINT name``: an exception rolls back only
    what the block wrote (and propagates); the enclosing transaction goes on."""
    conn.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        conn.execute(f"ROLLBACK TO {name}")
        conn.execute(f"RELEASE {name}")
        raise
    conn.execute(f"RELEASE {name}")


@dataclass
class _Write:
    desc: str
    fn: Callable[[sqlite3.Connection], Any]
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


@dataclass
class WriterStats:
    """Counters a metrics endpoint or a benchmark can read."""

    transactions: int = 0
    writes: int = 0
    failed_commits: int = 0


class Database:
    """One SQLite file with its writer thread and read pool. See module doc."""

    def __init__(
        self,
        path: str | Path,
        migrations: Sequence[sqlite_utils.Migrations] = (),
        *,
        readers: int = 2,
        name: str | None = None,
        checkpoints: bool = True,
    ) -> None:
        self.path = Path(path)
        self.name = name or self.path.stem
        self.checkpoints = checkpoints
        self.stats = WriterStats()
        self.last_used = time.monotonic()
        self._closed = False
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._pending = 0
        self._pending_lock = threading.Lock()
        conn = connect(self.path)
        if not checkpoints:
            # Only the writer commits, so this is the one connection whose
            # commits would checkpoint on their own.
            conn.execute("PRAGMA wal_autocheckpoint = 0")
        try:
            self.applied = apply_migrations(conn, migrations)
        except BaseException:
            conn.close()
            raise
        self._writer_conn = conn
        self._writer = threading.Thread(target=self._run_writer, name=f"db-writer:{self.name}", daemon=True)
        self._writer.start()
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._reader_sem = threading.BoundedSemaphore(max(1, readers))
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._read_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, readers), thread_name_prefix=f"db-read:{self.name}"
        )

    # -- writes ---------------------------------------------------------

    def submit_write(self, desc: str, fn: Callable[[sqlite3.Connection], T]) -> concurrent.futures.Future:
        """Queue ``fn`` for the writer; the future resolves after COMMIT."""
        with self._pending_lock:
            if self._closed:
                raise DatabaseClosed(self.name)
            self._pending += 1
        self.last_used = time.monotonic()
        item = _Write(desc, fn)
        self._queue.put(item)
        return item.future

    async def write(self, desc: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in a write transaction; return its result once durable."""
        return await asyncio.wrap_future(self.submit_write(desc, fn))

    def write_sync(self, desc: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Blocking :meth:`write` for threads other than the event loop's."""
        return self.submit_write(desc, fn).result()

    def _run_writer(self) -> None:
        conn = self._writer_conn
        while True:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            stop = False
            while len(batch) < MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit_batch(conn, batch)
            with self._pending_lock:
                self._pending -= len(batch)
            if stop:
                break
        conn.close()

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[_Write]) -> None:
        started = time.monotonic()
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for index, item in enumerate(batch):
                savepoint = f"w{index}"
                conn.execute(f"SAVEPOINT {savepoint}")
                try:
                    result = item.fn(conn)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    if not conn.in_transaction:
                        # The error ended the whole transaction (RAISE(ROLLBACK),
                        # disk full): the earlier writes are gone too.
                        raise
                    conn.execute(f"ROLLBACK TO {savepoint}")
                    conn.execute(f"RELEASE {savepoint}")
                    outcomes.append((False, _for_caller(exc)))
                else:
                    conn.execute(f"RELEASE {savepoint}")
                    outcomes.append((True, result))
            conn.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - every caller learns of it
            self.stats.failed_commits += 1
            if _disk_full(exc):
                # Expected, and the operator's to fix: one line, no traceback.
                log.warning("%s: disk full, transaction of %d writes rolled back", self.name, len(batch))
            else:
                log.exception("%s: transaction of %d writes failed", self.name, len(batch))
            exc = _for_caller(exc)
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    log.exception("%s: rollback failed", self.name)
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        self.stats.transactions += 1
        self.stats.writes += len(batch)
        elapsed = time.monotonic() - started
        if elapsed > SLOW_SECONDS:
            log.warning(
                "%s: slow transaction %.3fs: %s", self.name, elapsed, ", ".join(sorted({i.desc for i in batch}))
            )
        for item, (ok, value) in zip(batch, outcomes):
            if ok:
                item.future.set_result(value)
            else:
                item.future.set_exception(value)

    # -- reads ----------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        try:
            return self._readers.get_nowait()
        except queue.Empty:
            conn = connect(self.path, readonly=True)
            conn.execute(f"PRAGMA mmap_size = {READ_MMAP_BYTES}")
            with self._reader_lock:
                self._reader_conns.append(conn)
            return conn

    def _read(self, desc: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._reader()
        try:
            # An explicit read transaction gives the function one snapshot.
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("ROLLBACK")
        finally:
            self._readers.put(conn)

    def submit_read(self, desc: str, fn: Callable[[sqlite3.Connection], T]) -> concurrent.futures.Future:
        """Run ``fn`` on a read connection of the pool; returns its future."""
        if self._closed:
            raise DatabaseClosed(self.name)
        self.last_used = time.monotonic()
        return self._read_pool.submit(self._read, desc, fn)

    async def read(self, desc: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in a read-only snapshot and return its result."""
        return await asyncio.wrap_future(self.submit_read(desc, fn))

    def read_sync(self, desc: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Blocking :meth:`read` for threads other than the event loop's."""
        return self.submit_read(desc, fn).result()

    # -- lifecycle ------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while writes are queued or running."""
        with self._pending_lock:
            return self._pending > 0

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Finish queued writes, then close every connection. Idempotent."""
        with self._pending_lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(None)
        if threading.current_thread() is not self._writer:
            self._writer.join()
        self._read_pool.shutdown(wait=True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()

    def checkpoint(self) -> None:
        """Fold the WAL into the main file (used before copying it).

        With ``checkpoints=False`` only waits for the queued writes: the WAL
        is Litestream's to fold, and a caller that copies the file must use
        the backup API (:func:`storage.tenants.export_file`) instead.
        """
        self.write_sync("checkpoint", lambda conn: None)
        if not self.checkpoints:
            return
        conn = connect(self.path)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()

    def __repr__(self) -> str:
        return f"<Database {self.name} {'closed' if self._closed else 'open'}>"


def _disk_full(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def _for_caller(exc: BaseException) -> BaseException:
    """What a writer's caller gets for ``exc``: a full disk becomes
    :class:`StorageFull`, which every protocol maps (452, NO [LIMIT], 507);
    anything else as it was raised."""
    if _disk_full(exc):
        full = StorageFull()
        full.__cause__ = exc
        return full
    return exc
