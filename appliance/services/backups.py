"""Backups: what the replica holds, restoring a business from it, and the
nightly export of every business (a second copy, independent of the first).

Continuous replication itself is :mod:`appliance.litestream`, started with
the daemon. A restore goes through the import path every business file
takes (:meth:`Businesses.import_file`): the file is checked before anything
changes, the catalog learns of it, and the daemon picks it up within a
second.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from storage import box as boxdb
from storage import directory, names
from storage.database import connect
from storage.errors import IntegrityFailed
from storage.tenants import adopt_file, check_file, export_file, file_facts, overwrite_file

from .. import litestream
from ..errors import Conflict, InvalidInput, NotFound
from .base import Stores
from .businesses import Business, Businesses, _remove_db_files

log = logging.getLogger(__name__)

#: The mode of the nightly copies (the operator's, and nobody else's).
EXPORT_MODE = 0o600


@dataclass(frozen=True)
class Replica:
    """One database's place in the replica: ``name`` is ``box`` or a slug;
    ``txid`` the newest transaction Litestream has taken from its WAL;
    ``last_sync`` when Litestream last shipped everything it had taken
    (every ``sync_seconds`` while it keeps up), ``age_seconds`` how long ago."""

    name: str
    status: str  # ok | warn
    txid: int | None
    last_sync: str | None
    age_seconds: float | None
    detail: str


@dataclass(frozen=True)
class BackupStatus:
    enabled: bool
    running: bool
    url: str
    warn_seconds: int
    databases: list[Replica]

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def warnings(self) -> list[Replica]:
        return [d for d in self.databases if d.status != "ok"]


def parse_time(text: str) -> datetime.datetime:
    """ISO 8601 (``2026-12-07T05:56:17Z``, an offset, or no zone: UTC) ->
    an aware datetime. InvalidInput otherwise."""
    try:
        when = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"invalid time {text!r}: use ISO 8601, e.g. 2026-12-07T05:56:17Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.astimezone(datetime.timezone.utc)


class Backups:
    """See module doc. Methods raise ApplianceError subclasses only for
    expected failures, and a failure changes nothing."""

    def __init__(self, stores: Stores, businesses: Businesses):
        self.stores = stores
        self.businesses = businesses

    def status(self) -> BackupStatus:
        """Every business of the catalog and the box database: its last
        transaction taken by Litestream and when it last shipped; ``warn`` when
        that is older than ``[backup] warn_seconds`` or nothing was shipped.
        Reads the running Litestream's control socket; changes nothing."""
        b = self.stores.settings.backup
        if not litestream.enabled(self.stores.settings):
            return BackupStatus(False, False, "", b.warn_seconds, [])
        try:
            rows = litestream.replicated(self.stores.state_dir)
            problem = "litestream is not running"
        except litestream.BackupFailed as exc:
            # Busy starting (thousands of files) or wedged: a finding, not a crash.
            rows, problem = None, str(exc)
        by_path = {Path(r.path).resolve(): r for r in rows or []}
        now = datetime.datetime.now(datetime.timezone.utc)
        wanted = [("box", self.stores.box.path)]
        wanted += [(e.slug, self.stores.tenants.path(e.slug)) for e in self.businesses.list()]
        out = []
        for name, path in wanted:
            row = by_path.get(Path(path).resolve())
            if rows is None:
                out.append(Replica(name, "warn", None, None, None, problem))
            elif row is None:
                out.append(Replica(name, "warn", None, None, None, "not replicated"))
            elif row.last_sync is None:
                out.append(Replica(name, "warn", row.txid, None, None, f"nothing shipped yet ({row.status})"))
            else:
                age = (now - row.last_sync).total_seconds()
                late = age > b.warn_seconds
                out.append(Replica(name, "warn" if late else "ok", row.txid, row.last_sync.isoformat(), round(age, 1),
                                   f"last shipped {age:.0f} s ago" + (f" (over {b.warn_seconds} s)" if late else "")))
        return BackupStatus(True, rows is not None, b.url, b.warn_seconds, out)

    def restore(self, slug: str, at: str | None = None, as_slug: str | None = None, *, actor: str) -> Business:
        """Bring business ``slug`` back from the replica as it was at ``at``
        (ISO 8601; None: the latest shipped), under its own slug or, with
        ``as_slug``, alongside it as a separate business.

        Checks: backups are on; the slugs and the time are valid; ``as_slug``
        is free; the replica holds ``slug`` at that time; the restored file
        passes ``integrity_check`` and holds business ``slug``; its domains
        belong to no other business. Changes: under its own slug, a copy of
        the live business goes to ``<state>/removed/`` and the restored state
        is written into the live file (the catalog follows its domains); a
        business no longer in the catalog is imported; under ``as_slug``, the
        copy is renamed (slug, free domain, own domains moved under it) and
        imported.
        Raises InvalidInput, NotFound, Conflict, IntegrityFailed,
        litestream.BackupFailed.
        """
        stores = self.stores
        if not litestream.enabled(stores.settings):
            raise InvalidInput("continuous backups are off ([backup] url is empty)")
        slug = names.slug(slug)
        target = names.slug(as_slug) if as_slug else slug
        when = parse_time(at) if at else None
        exists = stores.box.read_sync("tenant check", lambda c: boxdb.has_tenant(c, target))
        if target != slug and (exists or stores.tenants.path(target).exists()):
            raise Conflict(f"business {target} already exists")
        run = litestream.run_dir(stores.state_dir)
        staging = run / f".restore-{os.getpid()}-{slug}.sqlite3"
        _remove_db_files(staging)
        try:
            litestream.restore(stores.settings, stores.state_dir, f"tenants/{slug}.sqlite3", staging, when,
                               label=f"business {slug}")
            check_file(staging)
            if file_facts(staging).slug != slug:
                raise IntegrityFailed(f"the replica of {slug} holds another business")
            if target != slug:
                self._rename(staging, target)
            if exists:
                business = self._replace(target, staging)
            else:
                business = self.businesses.import_file(staging, actor=actor)
        finally:
            _remove_db_files(staging)
        log.info("business %s restored by %s as %s from %s at %s", slug, actor, target,
                 stores.settings.backup.url, when.isoformat() if when else "the latest")
        return business

    def _replace(self, slug: str, staging: Path) -> Business:
        """Put the restored file ``staging`` into the live business ``slug``
        (see :func:`storage.tenants.overwrite_file`): the file keeps its
        place, so the daemon and Litestream, which hold it open, see one
        more transaction; what it held is copied to ``removed/`` first."""
        stores = self.stores
        facts = adopt_file(staging, stores.tenants.migrations, stores.free_domain)

        def check(conn) -> None:
            for domain in facts.domains:
                owner = boxdb.tenant_for_domain(conn, domain)
                if owner not in (None, slug):
                    raise Conflict(f"domain {domain} of the restored {slug} now belongs to business {owner}")

        stores.box.read_sync("restore check", check)
        db = stores.tenants.get(slug)
        removed = stores.state_dir / "removed"
        removed.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        kept = removed / f"{slug}-{stamp}-before-restore.sqlite3"
        export_file(db, kept)
        overwrite_file(staging, db)

        def register(conn) -> None:
            boxdb.remove_tenant(conn, slug)
            boxdb.add_tenant(conn, slug, facts.name, facts.created, facts.domains)
            boxdb.set_state(conn, slug, facts.state)

        stores.write_box("tenant restore", register)
        log.info("business %s: the state it had before the restore is kept in %s", slug, kept)
        return self.businesses.show(slug)

    def _rename(self, path: Path, slug: str) -> None:
        conn = connect(path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                directory.rename_business(conn, slug, self.stores.free_domain(slug))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            # The staging file is not replicated: fold its WAL so it stands alone.
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()

    def export_all(self, target_dir: str | Path, *, actor: str) -> list[Path]:
        """Copy every business to ``<target_dir>/<slug>.sqlite3`` (mode
        0600), each a consistent snapshot taken with SQLite's backup API
        while the daemon runs; a copy of the same name is replaced.

        Checks: ``target_dir`` is a directory. Changes nothing of the box.
        Raises NotFound.
        """
        target_dir = Path(target_dir)
        if not target_dir.is_dir():
            raise NotFound(f"directory {target_dir} does not exist")
        written = []
        for entry in self.businesses.list():
            target = target_dir / f"{entry.slug}.sqlite3"
            export_file(self.stores.tenants.get(entry.slug), target, mode=EXPORT_MODE)
            written.append(target)
        log.info("%d businesses exported by %s to %s", len(written), actor, target_dir)
        return written


__all__ = ["BackupStatus", "Backups", "Replica", "parse_time"]
