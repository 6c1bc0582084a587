"""One SQLite file: its writes serialised with group commit, reads on
connections opened on demand, all run by a few shared worker threads.

Contract (DESIGN section 3):

* Every connection runs in WAL mode with ``synchronous=FULL``,
  ``foreign_keys=ON`` and a ``busy_timeout``.
* Writes go through :meth:`Database.write` (from the event loop) or
  :meth:`Database.write_sync` (from any other thread). The caller passes a
  function that takes a :class:`sqlite3.Connection`; it runs on the
  database's one write connection inside ``BEGIN IMMEDIATE``, one
  transaction at a time. Writes that are queued together share one
  transaction (group commit); each runs inside its own savepoint, so one
  caller's exception rolls back only that caller's work. The caller's result
  is delivered only after ``COMMIT`` returned, which is what lets protocol
  code acknowledge after the data is on disk.
* Reads go through :meth:`Database.read` / :meth:`Database.read_sync` and run
  on read-only connections (WAL readers never block the writer), opened when
  needed and kept between reads; those over ``readers`` (opened while reads
  overlapped) are closed by :meth:`Database.trim_readers` once the file is
  quiet.
* The work runs on :class:`storage.workers.Workers` threads: the pool's,
  shared by every business file, or a few of the database's own. A quiet
  database holds connections, never threads.
* Numbered migrations (``sqlite_utils.Migrations`` sets) are applied when the
  file is opened, inside one ``BEGIN IMMEDIATE``.
* With ``checkpoints=False`` (continuous backups on) the file is never
  checkpointed from here: no automatic checkpoints on commit, and
  :meth:`Database.checkpoint` only waits for queued writes. Litestream, which
  reads the WAL and ships each change once, checkpoints instead.

* :meth:`Database.read_quick` runs a bounded lookup (a few rows through
  indexes: the SMTP recipient and greylist checks) on the event loop itself,
  on a connection kept for it that never waits for a lock, and falls back to
  the workers when it would. Handing such a read to a worker costs more than
  the read: under load each statement's release of the GIL becomes a thread
  switch (measured on the MX: 107 context switches per message with the
  checks on workers, 57 with them here, and half again the messages a
  second).

Callers never hold a connection, and run no SQL on the event loop but
:meth:`Database.read_quick`'s lookups.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import collections
import contextlib
import copy
import concurrent.futures.thread  # noqa: F401 - loaded before any privilege drop
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

import sqlite_utils

from .errors import DatabaseClosed, StorageFull
from .workers import Workers

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
    frozen_ok: bool = False
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


@dataclass
class WriterStats:
    """Counters a metrics endpoint or a benchmark can read."""

    transactions: int = 0
    writes: int = 0
    failed_commits: int = 0


class Database:
    """One SQLite file with its serialised writes and its reads. See module doc."""

    def __init__(
        self,
        path: str | Path,
        migrations: Sequence[sqlite_utils.Migrations] = (),
        *,
        readers: int = 2,
        name: str | None = None,
        checkpoints: bool = True,
        workers: Workers | None = None,
        on_quiet: Callable[[], None] | None = None,
        guard: Callable[[sqlite3.Connection], BaseException | None] | None = None,
    ) -> None:
        """``workers``: the threads that run this file's work; without, the
        database starts ``readers + 1`` of its own (stopped by :meth:`close`).
        ``on_quiet`` is called, on a worker, each time the last queued or
        running piece of work ends (the pool closes files over its bound
        then). Opening applies the migrations, on the caller's thread.

        ``guard`` is called in every write transaction right after ``BEGIN
        IMMEDIATE``; when it returns an exception (a business file's freeze
        marker: :mod:`storage.freeze`), each write of the transaction that
        changed a row is rolled back and fails with it, unless it was
        submitted with ``frozen_ok``."""
        self.path = Path(path)
        self.name = name or self.path.stem
        self.checkpoints = checkpoints
        self.readers = max(1, readers)
        self.stats = WriterStats()
        self.last_used = time.monotonic()
        self._closed = False
        self._lock = threading.Lock()
        #: Signalled when the last queued or running piece of work ends.
        self._quiet = threading.Condition(self._lock)
        self._queue: collections.deque[_Write] = collections.deque()
        #: Writes queued or committing, plus reads running or waiting for a worker.
        self._inflight = 0
        #: True while a drain of the write queue is submitted or running:
        #: at most one at a time, which is what serialises the writes.
        self._draining = False
        self._idle_readers: list[sqlite3.Connection] = []
        #: The event loop's own read connection (:meth:`read_quick`).
        self._quick_conn: sqlite3.Connection | None = None
        self._released = False
        self._on_quiet = on_quiet
        self._guard = guard
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
        self._own_workers = workers is None
        self._workers = workers if workers is not None else Workers(self.readers + 1, f"db:{self.name}")

    # -- writes ---------------------------------------------------------

    def submit_write(self, desc: str, fn: Callable[[sqlite3.Connection], T], *,
                     frozen_ok: bool = False) -> concurrent.futures.Future:
        """Queue ``fn`` for the writer; the future resolves after COMMIT.
        ``frozen_ok``: the write passes the guard (see :meth:`__init__`)."""
        item = _Write(desc, fn, frozen_ok)
        with self._lock:
            if self._closed:
                raise DatabaseClosed(self.name)
            self._inflight += 1
            self._queue.append(item)
            start = not self._draining
            self._draining = True
        self.last_used = time.monotonic()
        if start:
            try:
                self._workers.submit(self._drain)
            except RuntimeError:
                # The workers are stopping (the pool is closing): commit here
                # rather than strand this write and those queued behind it.
                self._drain()
        return item.future

    async def write(self, desc: str, fn: Callable[[sqlite3.Connection], T], *, frozen_ok: bool = False) -> T:
        """Run ``fn`` in a write transaction; return its result once durable."""
        return await asyncio.wrap_future(self.submit_write(desc, fn, frozen_ok=frozen_ok))

    def write_sync(self, desc: str, fn: Callable[[sqlite3.Connection], T], *, frozen_ok: bool = False) -> T:
        """Blocking :meth:`write` for threads other than the event loop's."""
        return self.submit_write(desc, fn, frozen_ok=frozen_ok).result()

    def _drain(self) -> None:
        """Commit what is queued now as one transaction; if more arrived
        meanwhile, go to the back of the workers' queue for the next group
        (so one busy file cannot keep a worker from the others)."""
        while True:
            with self._lock:
                batch = [self._queue.popleft() for _ in range(min(MAX_GROUP, len(self._queue)))]
            try:
                if batch:
                    self._commit_batch(self._writer_conn, batch)
            finally:
                with self._lock:
                    self._inflight -= len(batch)
                    again = bool(self._queue)
                    self._draining = again
                    quiet = not self._inflight
                    if quiet:
                        self._quiet.notify_all()
            if not again:
                if quiet:
                    self._after_quiet()
                return
            try:
                self._workers.submit(self._drain)
                return
            except RuntimeError:
                continue  # the workers are stopping: finish the queue here

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[_Write]) -> None:
        started = time.monotonic()
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            # Read under the write lock: no other connection can put or
            # lift the marker until this transaction ends.
            refusal = self._guard(conn) if self._guard is not None else None
            for index, item in enumerate(batch):
                savepoint = f"w{index}"
                conn.execute(f"SAVEPOINT {savepoint}")
                try:
                    changes = conn.total_changes
                    result = item.fn(conn)
                    if refusal is not None and not item.frozen_ok and conn.total_changes != changes:
                        raise copy.copy(refusal)
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

    def _read(self, desc: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            with self._lock:
                conn = self._idle_readers.pop() if self._idle_readers else None
            if conn is None:
                conn = self._read_connection()
            try:
                return _in_snapshot(conn, fn)
            finally:
                with self._lock:
                    # Kept even over ``readers`` (at most one per worker can
                    # exist): overlapping reads come back in bursts, and
                    # opening a connection costs more than most reads. The
                    # surplus goes when the file is quiet (:meth:`trim_readers`).
                    keep = not self._closed
                    if keep:
                        self._idle_readers.append(conn)
                if not keep:
                    conn.close()
        finally:
            self._one_done()

    def _read_connection(self) -> sqlite3.Connection:
        conn = connect(self.path, readonly=True)
        conn.execute(f"PRAGMA mmap_size = {READ_MMAP_BYTES}")
        return conn

    def _start_read(self) -> None:
        """Count a read in flight (:meth:`_one_done` ends it); DatabaseClosed after close()."""
        with self._lock:
            if self._closed:
                raise DatabaseClosed(self.name)
            self._inflight += 1
        self.last_used = time.monotonic()

    def _one_done(self) -> None:
        """A read counted in flight has ended (run or cancelled)."""
        with self._lock:
            self._inflight -= 1
            quiet = not self._inflight
            if quiet:
                self._quiet.notify_all()
        if quiet:
            self._after_quiet()

    def _after_quiet(self) -> None:
        # The last piece of work ended: finish a close that could not wait
        # for it, or tell the pool there may be a file to close now.
        if self._closed:
            self._release()
        elif self._on_quiet is not None:
            self._on_quiet()

    def submit_read(self, desc: str, fn: Callable[[sqlite3.Connection], T]) -> concurrent.futures.Future:
        """Run ``fn`` on a read connection; returns its future."""
        self._start_read()
        try:
            future = self._workers.submit(self._read, desc, fn)
        except RuntimeError:
            # The workers are stopping (the pool is closing).
            with self._lock:
                self._inflight -= 1
                if not self._inflight:
                    self._quiet.notify_all()
            raise DatabaseClosed(self.name) from None
        future.add_done_callback(self._read_cancelled)
        return future

    def _read_cancelled(self, future: concurrent.futures.Future) -> None:
        # A read cancelled before a worker took it (its asyncio caller was
        # cancelled, say at shutdown) never runs :meth:`_read`, which is
        # what counts it done: count it here, or close() waits for ever.
        if future.cancelled():
            self._one_done()

    async def read(self, desc: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in a read-only snapshot and return its result."""
        return await asyncio.wrap_future(self.submit_read(desc, fn))

    async def read_quick(self, desc: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """:meth:`read` for a bounded lookup (a few rows through indexes,
        nothing that scans or computes): run at once on the calling thread,
        which must be the event loop's, on a connection kept for it. When
        that connection would wait for a lock (``busy_timeout`` 0) the read
        goes to a worker like any other."""
        self._start_read()
        try:
            conn = self._quick_conn
            if conn is None:
                conn = self._quick_conn = self._read_connection()
                conn.execute("PRAGMA busy_timeout = 0")
            try:
                return _in_snapshot(conn, fn)
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise
        finally:
            self._one_done()
        log.debug("%s: %s waited for a lock; read on a worker", self.name, desc)
        return await self.read(desc, fn)

    def read_sync(self, desc: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Blocking :meth:`read` for threads other than the event loop's."""
        if self._workers.inside:
            # Already on a worker (a function reading another file): run
            # here rather than wait for a worker that may never come free.
            self._start_read()
            return self._read(desc, fn)
        return self.submit_read(desc, fn).result()

    # -- lifecycle ------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while writes are queued or running, or reads are."""
        with self._lock:
            return self._inflight > 0

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Refuse new work, finish what was queued, then close every
        connection. Idempotent. On one of the workers (a file closed from
        inside another's work) it does not wait: the last queued piece of
        work closes the connections when it ends, as waiting there could
        hold the very worker that work needs."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._workers.inside:
                if self._inflight:
                    return
            else:
                while self._inflight:
                    self._quiet.wait()
        self._release()

    def _release(self) -> None:
        """Close every connection, once, after the last work ended."""
        with self._lock:
            if self._released:
                return
            self._released = True
            readers, self._idle_readers = self._idle_readers, []
            quick, self._quick_conn = self._quick_conn, None
        for conn in readers + ([quick] if quick is not None else []):
            conn.close()
        self._writer_conn.close()
        if self._own_workers and not self._workers.inside:
            self._workers.shutdown()

    def trim_readers(self) -> int:
        """Close the idle read connections over ``readers`` (kept while
        reads overlapped); returns how many. Safe at any time."""
        with self._lock:
            surplus = self._idle_readers[self.readers:]
            del self._idle_readers[self.readers:]
        for conn in surplus:
            conn.close()
        return len(surplus)

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


def _in_snapshot(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """``fn(conn)`` in an explicit read transaction: one snapshot throughout."""
    conn.execute("BEGIN")
    try:
        return fn(conn)
    finally:
        conn.execute("ROLLBACK")


def _busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because a lock was held (SQLITE_BUSY/LOCKED)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


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
