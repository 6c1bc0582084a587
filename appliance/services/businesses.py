"""Provisioning: creating, suspending, moving and removing businesses.

Writes that touch both the box catalog and a business file are ordered so a
crash between them leaves nothing reachable that is half made: a new
business file is complete before the catalog names it; an imported file is
registered before it is moved into place. Box-wide actions (remove, export,
import, rebuild) are logged; changes inside a business are in its audit log.
"""

from __future__ import annotations

import datetime
import logging
import os
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from storage import box as boxdb
from storage import directory, plans, schema
from storage import usage as usagedb
from storage.database import quick_check
from storage.errors import IntegrityFailed
from storage.tenants import adopt_file, check_file, copy_private, export_file, file_facts

from storage import names
from ..errors import Conflict, InvalidInput, NotFound
from .base import Stores
from .usage import resum_business, sum_into_box

log = logging.getLogger(__name__)

#: States a business can be in (``storage.directory`` enforces the same).
STATES = ("active", "suspended")


@dataclass(frozen=True)
class DomainInfo:
    name: str
    kind: str  # free | own
    created: str


@dataclass(frozen=True)
class Business:
    """One business as the operator sees it."""

    slug: str
    name: str
    state: str
    created: str
    plan: directory.Plan
    domains: list[DomainInfo]
    users: int
    #: Messages a day it may send until an operator lifts the hold (a
    #: business made by sign-up); None: only its plan's limit.
    outbound_hold: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BusinessEntry:
    """One line of the catalog."""

    slug: str
    name: str
    state: str
    created: str
    domains: list[str]

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Usage:
    """Figures for billing: counts now, counters by period, file size."""

    slug: str
    counts: dict[str, int]
    counters: dict[str, dict[str, int]]
    file_bytes: int

    def as_dict(self) -> dict:
        return asdict(self)


def _today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


def _remove_db_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@dataclass(frozen=True)
class Migrated:
    """One database brought to the current schema: ``database`` is ``box``
    or a business's slug, ``applied`` the migrations it got (``set:name``)."""

    database: str
    applied: list[str]


class Businesses:
    """The businesses of the box. Every method raises only ApplianceError
    subclasses for expected failures, and a failure changes nothing."""

    def __init__(self, stores: Stores):
        self.stores = stores

    # -- reading -------------------------------------------------------------

    def list(self) -> list[BusinessEntry]:
        """Every business in the catalog, by slug. Checks nothing, changes nothing."""
        rows = self.stores.box.read_sync("tenant list", boxdb.list_tenants)
        return [BusinessEntry(r["slug"], r["name"], r["state"], r["created"], r["domains"]) for r in rows]

    def show(self, slug: str) -> Business:
        """One business, read from its file.

        Raises InvalidInput (bad slug), NotFound (no such business).
        """
        handle = self.stores.handle(slug)

        def read(conn: sqlite3.Connection) -> Business:
            row = directory.get_tenant(conn)
            domains = [DomainInfo(d["name"], d["kind"], d["created"]) for d in directory.list_domains(conn)]
            return Business(row.slug, row.name, row.state, row.created, row.plan, domains, directory.count_users(conn),
                            row.outbound_hold)

        return handle.read_sync("tenant show", read)

    def plans(self) -> list[directory.Plan]:
        """The box's plans (:mod:`appliance.services.plans`), by name. Changes nothing."""
        return self.stores.box.read_sync("plan list", plans.list_plans)

    def usage(self, slug: str) -> Usage:
        """Usage figures of one business. Raises InvalidInput, NotFound."""
        handle = self.stores.handle(slug)
        figures = handle.read_sync("usage", directory.usage)
        pool = self.stores.tenants
        size = sum(p.stat().st_size for p in pool.directory.glob(f"{handle.slug}.sqlite3*") if p.is_file())
        return Usage(handle.slug, figures["counts"], figures["counters"], size)

    # -- changing ------------------------------------------------------------

    def create(self, slug: str, name: str | None = None, domain: str | None = None, plan: str | None = None,
               *, actor: str, outbound_hold: int | None = None) -> Business:
        """Create a business with its free domain ``<slug>.<box domain>`` and,
        if given, its own ``domain``.

        Checks: the slug, name and domain are valid and the slug is not
        reserved (``names.RESERVED_SLUGS``); the plan exists; the own
        domain is not under the box domain; neither the slug nor a domain is
        taken. Changes: a new business file (complete first, with the
        ``outbound_hold`` when given), then the catalog. Raises InvalidInput,
        Conflict.
        """
        stores = self.stores
        slug = names.new_slug(slug)
        display = names.display_name(name) if name is not None else slug
        own = names.domain(domain) if domain else None
        the_plan = stores.plan(plan)
        free = stores.free_domain(slug)
        if own is not None and stores.under_box_domain(own):
            raise InvalidInput(f"domain {own} is under the box domain; businesses get {free} already")
        wanted = [free] + ([own] if own else [])

        def check(conn: sqlite3.Connection) -> None:
            if boxdb.has_tenant(conn, slug):
                raise Conflict(f"business {slug} already exists")
            for d in wanted:
                if boxdb.tenant_for_domain(conn, d):
                    raise Conflict(f"domain {d} already belongs to another business")

        stores.box.read_sync("tenant check", check)
        pool = stores.tenants
        path = pool.path(slug)
        try:
            # Claim the file name atomically: of two concurrent creations of
            # one slug, exactly one gets here, and the loser removes nothing.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
        except FileExistsError:
            raise Conflict(f"a file for business {slug} already exists; import or remove it first") from None

        def init(conn: sqlite3.Connection) -> str:
            directory.init_tenant(conn, slug, display, the_plan, free)
            directory.audit(conn, actor, "tenant.create", f"{slug} {the_plan.name}")
            usagedb.mark_active(conn, _today(), the_plan.name)
            if outbound_hold is not None:
                directory.set_outbound_hold(conn, outbound_hold)
                directory.audit(conn, actor, "tenant.hold", str(outbound_hold))
            for hook in schema.ON_DOMAIN_ADDED:
                hook(conn, free)
            if own:
                directory.add_domain(conn, own)
                directory.audit(conn, actor, "domain.add", own)
                for hook in schema.ON_DOMAIN_ADDED:
                    hook(conn, own)
            for hook in schema.ON_TENANT_CREATED:
                hook(conn, slug)
            return directory.get_tenant(conn).created

        db = pool.get(slug, create=True)
        try:
            created = db.write_sync("tenant create", init)
            stores.write_box("tenant register", lambda c: boxdb.add_tenant(c, slug, display, created, wanted))
        except BaseException:
            pool.close(slug)
            _remove_db_files(path)
            raise
        log.info("business %s created by %s (plan %s, domains %s)", slug, actor, the_plan.name, " ".join(wanted))
        self._sum_usage(slug)
        return self.show(slug)

    def lift_hold(self, slug: str, *, actor: str) -> bool:
        """Lift a business's sign-up hold on outbound mail: from now on only
        its plan limits what it sends. Returns whether there was a hold.
        Raises InvalidInput, NotFound."""
        handle = self.stores.handle(slug)

        def change(conn: sqlite3.Connection) -> bool:
            if directory.get_tenant(conn).outbound_hold is None:
                return False
            directory.set_outbound_hold(conn, None)
            directory.audit(conn, actor, "tenant.lift")
            return True

        lifted = handle.write_sync("tenant lift", change)
        if lifted:
            log.info("business %s: outbound hold lifted by %s", handle.slug, actor)
        return lifted

    def set_state(self, slug: str, state: str, *, actor: str) -> None:
        """Suspend (``suspended``) or resume (``active``) a business.

        Checks: the state is one of :data:`STATES`. Changes: the business
        file, then the catalog (logins and mail see it within a second).
        Raises InvalidInput, NotFound.
        """
        if state not in STATES:
            raise InvalidInput(f"invalid state {state!r}: use {' or '.join(STATES)}")
        handle = self.stores.handle(slug)

        def change(conn: sqlite3.Connection) -> None:
            directory.set_state(conn, state)
            directory.audit(conn, actor, f"tenant.{'suspend' if state == 'suspended' else 'resume'}")
            if state == "active":
                # A day it was active in is a day billed (the usage report).
                usagedb.mark_active(conn, _today(), directory.get_tenant(conn).plan.name)

        handle.write_sync("tenant state", change)
        self.stores.write_box("tenant state", lambda c: boxdb.set_state(c, handle.slug, state))
        if state == "active":
            self._sum_usage(handle.slug)

    def suspend(self, slug: str, *, actor: str) -> None:
        """See :meth:`set_state`."""
        self.set_state(slug, "suspended", actor=actor)

    def resume(self, slug: str, *, actor: str) -> None:
        """See :meth:`set_state`."""
        self.set_state(slug, "active", actor=actor)

    def set_plan(self, slug: str, plan: str, *, actor: str) -> None:
        """Move a business to another plan: its limits are copied into its
        file. Raises InvalidInput (no such plan), NotFound."""
        the_plan = self.stores.plan(plan)

        def change(conn: sqlite3.Connection) -> None:
            directory.set_plan(conn, the_plan)
            directory.audit(conn, actor, "tenant.plan", the_plan.name)

        self.stores.handle(slug).write_sync("tenant plan", change)
        self.stores.changed("tenant plan")

    def remove(self, slug: str, *, actor: str) -> Path:
        """Unregister a business and move its file to ``<state>/removed/``.

        Changes: the catalog first (nothing reaches the business after), then
        the file moves. Returns where the file went; the operator deletes it
        when sure. Raises InvalidInput, NotFound.
        """
        stores = self.stores
        handle = stores.handle(slug)
        stores.write_box("tenant remove", lambda c: boxdb.remove_tenant(c, handle.slug))
        pool = stores.tenants
        db = pool.get(handle.slug)
        db.checkpoint()
        pool.close(handle.slug)
        removed = stores.state_dir / "removed"
        removed.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        target = removed / f"{handle.slug}-{stamp}.sqlite3"
        path = pool.path(handle.slug)
        if pool.checkpoints:
            os.replace(path, target)
        else:
            # The WAL is Litestream's to fold (continuous backups): copy the
            # file with what its WAL holds through the backup API instead.
            export_file(db, target)
        _remove_db_files(path)
        log.info("business %s removed by %s; its file is %s", handle.slug, actor, target)
        return target

    def export(self, slug: str, target: str | Path, *, actor: str) -> Path:
        """Copy the business's whole state to the new file ``target`` (mode
        0640), a consistent snapshot even while the daemon writes.

        Checks: ``target`` does not exist and its directory does. Changes
        nothing of the box; the business file is copied as it is (no audit
        row, so an export is the business exactly). Raises Conflict,
        NotFound, InvalidInput.
        """
        handle = self.stores.handle(slug)
        target = Path(target)
        if target.exists():
            raise Conflict(f"{target} already exists")
        if not target.parent.is_dir():
            raise NotFound(f"directory {target.parent} does not exist")
        export_file(self.stores.tenants.get(handle.slug), target)
        log.info("business %s exported by %s to %s", handle.slug, actor, target)
        return target

    def export_to(self, slug: str, out: BinaryIO, *, actor: str) -> int:
        """Write the export of :meth:`export` to the stream ``out`` (standard
        output, an HTTP download); returns the bytes written.

        The snapshot is made in a private file of the state directory first,
        which is removed afterwards. Raises InvalidInput, NotFound.
        """
        handle = self.stores.handle(slug)
        work = self.stores.state_dir / "run"
        work.mkdir(exist_ok=True)
        tmp = work / f".export-{handle.slug}-{os.getpid()}.sqlite3"
        tmp.unlink(missing_ok=True)
        try:
            export_file(self.stores.tenants.get(handle.slug), tmp)
            written = 0
            with open(tmp, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    out.write(chunk)
                    written += len(chunk)
            out.flush()
        finally:
            tmp.unlink(missing_ok=True)
        log.info("business %s exported by %s to a stream (%d bytes)", handle.slug, actor, written)
        return written

    def import_file(self, source: str | Path, *, actor: str) -> Business:
        """Bring a business file (an export) onto this box.

        Checks: the file is sound (integrity, foreign keys, one business
        row); the slug is free here; its domains belong to no other business.
        Changes: a private copy (mode 0640) is migrated and, when it came
        from a box with another box domain, given this box's free domain;
        then it is registered in the catalog and moved into place. Raises
        NotFound, IntegrityFailed, InvalidInput, Conflict.
        """
        stores = self.stores
        pool = stores.tenants
        source = Path(source)
        if not source.is_file():
            raise NotFound(f"no file {source}")
        check_file(source)
        staging = pool.directory / f".import-{os.getpid()}.sqlite3"
        _remove_db_files(staging)
        try:
            copy_private(source, staging)
            return self.adopt_staged(staging, actor=actor, origin=str(source))
        finally:
            _remove_db_files(staging)

    def adopt_staged(self, staging: Path, *, actor: str, origin: str, slug: str | None = None,
                     prepare: Callable[[Path], None] | None = None) -> Business:
        """Register the checked, private business file ``staging`` (in the
        businesses' directory) and move it into place: the second half of
        :meth:`import_file`, shared with a move from another box.

        ``slug``: the business the file must hold (IntegrityFailed if not);
        ``prepare(path)`` runs on the file before it is migrated (a move
        removes the freeze marker the file came with). Raises
        IntegrityFailed, Conflict; on failure ``staging`` is left to the
        caller, nothing is registered.
        """
        stores = self.stores
        pool = stores.tenants
        if slug is not None and file_facts(staging).slug != slug:
            # Before anything changes the file.
            raise IntegrityFailed(f"the file holds business {file_facts(staging).slug}, not {slug}")
        if prepare is not None:
            prepare(staging)
        facts = adopt_file(staging, pool.migrations, stores.free_domain)
        found = names.slug(facts.slug)
        if pool.path(found).exists():
            raise Conflict(f"business {found} already exists here")
        stores.write_box(
            "tenant import", lambda c: boxdb.add_tenant(c, found, facts.name, facts.created, facts.domains)
        )
        os.replace(staging, pool.path(found))
        _remove_db_files(staging)
        log.info("business %s imported by %s from %s", found, actor, origin)
        self._resum_usage([found])
        return self.show(found)

    def migrate_all(self) -> list[Migrated]:
        """Bring the box database and every business of the catalog to the
        current schema now, rather than when each is first opened: what an
        upgrade runs before it starts the new daemon.

        Checks nothing more than opening does. Changes: each file's pending
        migrations, one transaction per file (a file that fails keeps its
        old schema, and the error is raised; files done before stay done).
        Running it again applies nothing.
        """
        done = [Migrated("box", list(self.stores.box.applied))]
        for entry in self.list():
            db = self.stores.tenants.get(entry.slug)
            done.append(Migrated(entry.slug, list(db.applied)))
        log.info("migrated %d databases, %d migrations applied", len(done), sum(len(m.applied) for m in done))
        return done

    def _sum_usage(self, slug: str) -> None:
        """This month's usage line of the business, into the box (see
        :meth:`_resum_usage`)."""
        try:
            sum_into_box(self.stores, {(slug, _today()[:7])})
        except Exception:  # noqa: BLE001 - the next sample or record sums it again
            log.exception("business %s: cannot sum its usage records into the box", slug)

    def _resum_usage(self, slugs: list[str]) -> None:
        """The usage records the files brought, into the box's monthly lines
        (a summary: the business is registered whether or not this works)."""
        for slug in slugs:
            try:
                resum_business(self.stores, slug)
            except Exception:  # noqa: BLE001 - the next sample or record sums it again
                log.exception("business %s: cannot sum its usage records into the box", slug)

    def rebuild_catalog(self, *, actor: str) -> int:
        """Rebuild the box catalog from the business files; returns how many.

        Checks: every file is sound and holds the business its name says;
        no domain is claimed by two files. Changes: the whole catalog, in
        one transaction. Raises IntegrityFailed, Conflict (changing nothing).
        """
        entries = []
        owners: dict[str, str] = {}
        for path in sorted(self.stores.tenants.directory.glob("*.sqlite3")):
            check_file(path)
            facts = file_facts(path)
            if facts.slug != path.stem:
                raise IntegrityFailed(f"{path.name} holds business {facts.slug}, not {path.stem}")
            for domain in facts.domains:
                if domain in owners:
                    raise Conflict(f"domain {domain} is claimed by both {owners[domain]} and {facts.slug}")
                owners[domain] = facts.slug
            entries.append((facts.slug, facts.name, facts.state, facts.created, facts.domains))
        self.stores.write_box("catalog rebuild", lambda c: boxdb.replace_catalog(c, entries))
        log.info("catalog rebuilt by %s from %d business files", actor, len(entries))
        self._resum_usage([e[0] for e in entries])
        return len(entries)

    def box_database_check(self) -> str:
        """SQLite's quick check of the box database: "ok" or the problem."""
        return self.stores.box.read_sync("quick_check", quick_check)


__all__ = ["Business", "BusinessEntry", "Businesses", "DomainInfo", "Migrated", "Usage", "STATES"]
