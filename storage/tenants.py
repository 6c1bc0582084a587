"""Business files: where they live, which are open, and copying them whole.

:class:`TenantPool` opens ``<state>/tenants/<slug>.sqlite3`` on demand
(applying migrations), keeps at most ``max_open`` open and closes those idle
for ``idle_seconds``, so a box with thousands of businesses costs nothing for
those that are quiet. Every open file's work runs on one small set of shared
threads (:class:`storage.workers.Workers`); an open file holds only its
connections.
:class:`TenantHandle` is what the rest of the code holds: it names one
business and reopens its file transparently if it was closed meanwhile.

:func:`export_file` and :func:`check_file` copy and vet a whole business with
SQLite's online backup API.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import sqlite_utils

from .names import SLUG_RE

from . import directory, freeze
from .database import Database, apply_migrations, connect
from .errors import DatabaseClosed, Frozen, IntegrityFailed, TenantNotFound
from .workers import Workers

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The mode of every business file we write (a copy holds password hashes).
PRIVATE_MODE = 0o640
#: How long opening a file waits for room when ``max_open`` files are open
#: and all busy; then it opens anyway (a bound that could deadlock a worker
#: which opens a file from inside another file's work is worse than a
#: moment over it).
OPEN_WAIT_SECONDS = 5.0
#: How often a handle's call is tried on a file closed under it. Between
#: getting the database and queueing the work another business may push it
#: out of the pool; each try reopens it, so a few always suffice unless the
#: pool is far too small for the load.
ATTEMPTS = 20
#: An open file nobody used for this long keeps only ``readers`` read
#: connections (see :meth:`TenantPool.evict_idle`).
TRIM_SECONDS = 10.0


class TenantPool:
    """Open business databases, at most ``max_open`` at once (LRU), their
    work run by ``workers`` shared threads."""

    def __init__(
        self,
        directory: str | Path,
        migrations: Sequence[sqlite_utils.Migrations],
        *,
        max_open: int = 256,
        idle_seconds: float = 300,
        readers: int = 2,
        checkpoints: bool = True,
        workers: int = 8,
    ) -> None:
        """``checkpoints``, ``readers``: see :class:`storage.database.Database`."""
        self.directory = Path(directory)
        self.checkpoints = checkpoints
        self.directory.mkdir(parents=True, exist_ok=True)
        self.migrations = list(migrations)
        self.max_open = max_open
        self.idle_seconds = idle_seconds
        self.readers = readers
        self.workers = workers
        self._workers: Workers | None = None
        self._open: collections.OrderedDict[str, Database] = collections.OrderedDict()
        #: slug -> (device, inode) of the file each open database opened.
        self._identity: dict[str, tuple[int, int]] = {}
        #: slug -> (device, inode) of a file this pool has migrated: a sweep
        #: reads it again with one plain read-only connection.
        self._current: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        #: Notified when an open database goes quiet (it may be closed now).
        self._room = threading.Condition(self._lock)
        self._waiting = 0
        self._opening: dict[str, threading.Lock] = {}

    def path(self, slug: str) -> Path:
        # Slugs are validated before they get here; the check keeps a path
        # from ever being built out of anything else.
        if not SLUG_RE.match(slug):
            raise TenantNotFound(f"no business {slug!r}")
        return self.directory / f"{slug}.sqlite3"

    def exists(self, slug: str) -> bool:
        return self.path(slug).exists()

    def get_open(self, slug: str) -> Database | None:
        """The database of ``slug`` if it is open now (never opens one, so
        the event loop may call it)."""
        with self._lock:
            db = self._open.get(slug)
            if db is None or db.closed:
                return None
            self._open.move_to_end(slug)
            db.last_used = time.monotonic()
            return db

    def get(self, slug: str, *, create: bool = False) -> Database:
        """The open database of ``slug``; opens (or with ``create`` makes) it.

        Opening reads the file and may migrate it: not on the event loop
        (:meth:`TenantHandle.read` and ``write`` open it in a thread)."""
        with self._lock:
            db = self._open.get(slug)
            if db is not None and not db.closed:
                self._open.move_to_end(slug)
                db.last_used = time.monotonic()
                return db
            opening = self._opening.setdefault(slug, threading.Lock())
        # Opening runs migrations: do it outside the pool lock so other
        # businesses are not held up, but only once per slug.
        with opening:
            with self._lock:
                db = self._open.get(slug)
                if db is not None and not db.closed:
                    return db
            path = self.path(slug)
            if not path.exists() and not create:
                raise TenantNotFound(f"no business {slug}")
            self._make_room()
            with self._lock:
                if self._workers is None:
                    self._workers = Workers(self.workers, "db")
                workers = self._workers
            db = Database(path, self.migrations, readers=self.readers, name=slug, checkpoints=self.checkpoints,
                          workers=workers, on_quiet=self._quiet, guard=_frozen)
            st = os.stat(path)
            if db.applied:
                log.info("%s: applied migrations %s", slug, ", ".join(db.applied))
            with self._lock:
                self._open[slug] = db
                self._identity[slug] = self._current[slug] = (st.st_dev, st.st_ino)
                self._open.move_to_end(slug)
                # Later callers find it in _open; the lock is not needed again.
                self._opening.pop(slug, None)
                victims = self._victims_locked(keep=slug)
        for victim in victims:
            victim.close()
        return db

    def _make_room(self) -> None:
        """Before opening one more file: close the least recently used quiet
        one if ``max_open`` are open, waiting (up to
        :data:`OPEN_WAIT_SECONDS`) for one to go quiet if all are busy."""
        deadline = time.monotonic() + OPEN_WAIT_SECONDS
        with self._lock:
            victims = self._victims_locked(room=1)
            while not victims and len(self._open) >= self.max_open:
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning("all %d open business files stayed busy for %.0fs; opening one more",
                                len(self._open), OPEN_WAIT_SECONDS)
                    break
                self._waiting += 1
                try:
                    self._room.wait(left)
                finally:
                    self._waiting -= 1
                victims = self._victims_locked(room=1)
        for victim in victims:
            victim.close()

    def _quiet(self) -> None:
        """A database ran out of work (on the thread that ran its last
        piece): close what is over the bound now, and wake an opener that
        waits for room."""
        with self._lock:
            if len(self._open) <= self.max_open and not self._waiting:
                return
            victims = self._victims_locked()
            self._room.notify_all()
        for victim in victims:
            victim.close()

    def _victims_locked(self, keep: str | None = None, room: int = 0) -> list[Database]:
        """Quiet databases to close, least recently used first: while more
        than ``max_open - room`` are open, and every one idle too long."""
        victims = []
        now = time.monotonic()
        for slug, db in list(self._open.items()):
            over = len(self._open) + room > self.max_open
            idle = now - db.last_used > self.idle_seconds
            if not (over or idle):
                # The order is LRU: the rest were used more recently.
                break
            if db.busy or slug == keep:
                continue
            del self._open[slug]
            victims.append(db)
        return victims

    def close_replaced(self) -> list[str]:
        """Close every open database whose path now names another file, or
        none: a business removed, or restored or imported in its place, by
        another process. The next :meth:`get` opens what the path names now.
        Returns the slugs closed."""
        with self._lock:
            items = [(slug, db, self._identity.get(slug)) for slug, db in self._open.items()]
        stale = []
        for slug, db, identity in items:
            try:
                st = os.stat(db.path)
                now = (st.st_dev, st.st_ino)
            except FileNotFoundError:
                now = None
            if now != identity:
                with self._lock:
                    if self._open.get(slug) is db:
                        del self._open[slug]
                        stale.append((slug, db))
        for slug, db in stale:
            db.close()
            log.info("%s: its file was replaced or removed; closed", slug)
        return [slug for slug, _ in stale]

    def evict_idle(self) -> int:
        """Close files unused for ``idle_seconds``; returns how many. The
        files left open that nobody used for :data:`TRIM_SECONDS` keep only
        their ``readers`` read connections."""
        with self._lock:
            victims = self._victims_locked()
            now = time.monotonic()
            quiet = [db for db in self._open.values() if now - db.last_used > TRIM_SECONDS]
        for db in victims:
            db.close()
        for db in quiet:
            db.trim_readers()
        return len(victims)

    def close(self, slug: str) -> None:
        with self._lock:
            db = self._open.pop(slug, None)
        if db is not None:
            db.close()

    def close_all(self) -> None:
        """Close every open file and stop the worker threads (the next
        :meth:`get` starts them again)."""
        with self._lock:
            dbs = list(self._open.values())
            self._open.clear()
            workers, self._workers = self._workers, None
        for db in dbs:
            db.close()
        if workers is not None:
            workers.shutdown()

    def sweep_read(self, slug: str, desc: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Read ``slug`` as :meth:`Database.read_sync` does, for a pass over
        every business (DNS zones, vacation dates): a file that was not open
        is closed again at once, so the pass neither keeps a thousand files
        open nor pushes the businesses in use out of the pool. Not on the
        event loop."""
        db = self.get_open(slug)
        if db is not None:
            try:
                return db.read_sync(desc, fn)
            except DatabaseClosed:
                pass  # evicted meanwhile: read it as a closed file
        path = self.path(slug)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise TenantNotFound(f"no business {slug}") from None
        if self._current.get(slug) == (st.st_dev, st.st_ino):
            conn = connect(path, readonly=True)
            try:
                conn.execute("BEGIN")
                return fn(conn)
            finally:
                conn.close()
        with self._lock:
            if self._workers is None:
                self._workers = Workers(self.workers, "db")
            workers = self._workers
        # Opened to be migrated, and not entered in the pool: a protocol
        # opening the same file meanwhile gets its own Database; SQLite keeps
        # the two consistent.
        db = Database(path, self.migrations, readers=1, name=slug, checkpoints=self.checkpoints, workers=workers)
        try:
            result = db.read_sync(desc, fn)
        finally:
            db.close()
        with self._lock:
            self._current[slug] = (st.st_dev, st.st_ino)
        return result

    @property
    def open_count(self) -> int:
        with self._lock:
            return len(self._open)

    def handle(self, slug: str) -> "TenantHandle":
        if not self.exists(slug):
            raise TenantNotFound(f"no business {slug}")
        return TenantHandle(self, slug)


class TenantHandle:
    """One business's data, as every protocol reaches it.

    The handle does not pin the file open: each call gets the database from
    the pool, and a call that races with idle eviction is simply retried on
    the reopened file.
    """

    def __init__(self, pool: TenantPool, slug: str):
        self.pool = pool
        self.slug = slug

    def _with_db(self, call: Callable[[Database], T]) -> T:
        for attempt in range(ATTEMPTS):
            try:
                return call(self.pool.get(self.slug))
            except DatabaseClosed:
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def _db(self) -> Database:
        # Opening a file reads (and may migrate) it: in a thread, never on
        # the loop.
        db = self.pool.get_open(self.slug)
        return db if db is not None else await asyncio.to_thread(self.pool.get, self.slug)

    async def read(self, desc: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        for attempt in range(ATTEMPTS):
            try:
                return await (await self._db()).read(desc, fn)
            except DatabaseClosed:
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def read_quick(self, desc: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """:meth:`storage.database.Database.read_quick` when the file is
        open; otherwise :meth:`read` (opening a file is not for the loop)."""
        db = self.pool.get_open(self.slug)
        if db is not None:
            try:
                return await db.read_quick(desc, fn)
            except DatabaseClosed:
                pass  # closed under us: read as usual, which opens it again
        return await self.read(desc, fn)

    async def write(self, desc: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        for attempt in range(ATTEMPTS):
            try:
                return await (await self._db()).write(desc, fn)
            except DatabaseClosed:
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def read_sync(self, desc: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._with_db(lambda db: db.read_sync(desc, fn))

    async def sweep(self, desc: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """:meth:`read` for a pass over every business: see
        :meth:`TenantPool.sweep_read` (run in a thread)."""
        return await asyncio.to_thread(self.pool.sweep_read, self.slug, desc, fn)

    def write_sync(self, desc: str, fn: Callable[[sqlite3.Connection], T], *, frozen_ok: bool = False) -> T:
        """``frozen_ok``: see :class:`storage.database.Database` (the
        freeze marker's own writes)."""
        return self._with_db(lambda db: db.write_sync(desc, fn, frozen_ok=frozen_ok))

    def __repr__(self) -> str:
        return f"<TenantHandle {self.slug}>"


def _frozen(conn: sqlite3.Connection) -> Frozen | None:
    """The guard of every business file (:mod:`storage.freeze`)."""
    found = freeze.marker(conn)
    return None if found is None else Frozen(found.target, bool(found.moved))


def export_file(source: Database, target: str | Path, *, mode: int = PRIVATE_MODE) -> None:
    """Copy a live database to ``target`` (file mode ``mode``) with the
    online backup API.

    The copy is a consistent snapshot even while writes go on; it is written
    next to the target and renamed into place, so a crash never leaves half a
    file under the target's name. It never checkpoints ``source``.
    """
    target = Path(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    src = connect(source.path, readonly=True)
    try:
        # A business's whole state (password hashes, mail): readable by the
        # owner and its group only, whatever the umask would have allowed.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode))
        os.chmod(tmp, mode)
        dst = sqlite3.connect(str(tmp))
        try:
            src.backup(dst)
            # A copy must stand alone: no WAL beside it.
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        src.close()


def overwrite_file(source: str | Path, target: Database) -> None:
    """Make the live database ``target`` hold exactly what the standalone
    file ``source`` holds, through the online backup API.

    The file stays where it is (same inode, same WAL): to every open
    connection - the daemon's, Litestream's - this is one write
    transaction, which Litestream ships like any other. ``source`` must be
    current (migrated); the caller has checked and copied what ``target``
    held before, if it wants it.
    """
    target.checkpoint()  # queued writes first
    src = sqlite3.connect(f"{Path(source).resolve().as_uri()}?mode=ro", uri=True)
    dst = connect(target.path)
    try:
        if not target.checkpoints:
            dst.execute("PRAGMA wal_autocheckpoint = 0")
        src.backup(dst)
    finally:
        dst.close()
        src.close()


@dataclass(frozen=True)
class FileFacts:
    """What a business file says about itself (the catalog's truth)."""

    slug: str
    name: str
    state: str
    created: str
    domains: list[str]


def copy_private(source: str | Path, target: str | Path) -> None:
    """Copy the file ``source`` to the new file ``target`` with mode
    :data:`PRIVATE_MODE` (never wider, whatever the umask)."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)
        with open(source, "rb") as src, os.fdopen(fd, "wb", closefd=False) as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
            dst.flush()
            os.fsync(fd)
    finally:
        os.close(fd)


def file_facts(path: str | Path) -> FileFacts:
    """The business row and domain names of the file ``path``, read-only."""
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT slug, name, state, created FROM tenant WHERE id = 1").fetchone()
        if row is None:
            raise IntegrityFailed(f"{path}: not a business file")
        domains = sorted(r[0] for r in conn.execute("SELECT name FROM domains"))
        return FileFacts(row[0], row[1], row[2], row[3], domains)
    finally:
        conn.close()


def adopt_file(path: str | Path, migrations: Sequence[sqlite_utils.Migrations], free_domain: Callable[[str], str]) -> FileFacts:
    """Make the (checked, copied) business file ``path`` fit this box.

    Applies pending migrations, gives the business this box's free domain
    (``free_domain(slug)``) when it came with another one, and checkpoints so
    the file stands alone. Raises IntegrityFailed for a slug that is not one.
    """
    conn = connect(path)
    try:
        apply_migrations(conn, migrations)
        row = conn.execute("SELECT slug FROM tenant WHERE id = 1").fetchone()
        if row is None or not SLUG_RE.match(row["slug"]):
            raise IntegrityFailed(f"{path}: the business has no valid slug")
        conn.execute("BEGIN IMMEDIATE")
        try:
            directory.rename_free_domain(conn, free_domain(row["slug"]))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return file_facts(path)


def check_file(path: str | Path) -> None:
    """Raise :class:`IntegrityFailed` unless ``path`` is a sound business file."""
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise IntegrityFailed(f"{path}: cannot open: {exc}") from None
    try:
        result = conn.execute("PRAGMA integrity_check").fetchall()
        if [tuple(r) for r in result] != [("ok",)]:
            raise IntegrityFailed(f"{path}: integrity check failed: {result[0][0]}")
        if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
            raise IntegrityFailed(f"{path}: foreign key check failed")
        has_tenant = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tenant'"
        ).fetchone()
        if not has_tenant or conn.execute("SELECT count(*) FROM tenant").fetchone()[0] != 1:
            raise IntegrityFailed(f"{path}: not a business file")
    except sqlite3.DatabaseError as exc:
        raise IntegrityFailed(f"{path}: not an SQLite database ({exc})") from None
    finally:
        conn.close()
