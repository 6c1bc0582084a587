"""What an operator does to businesses, domains, users and aliases.

One class serves the CLI and, later, the control panel. Every argument is
validated (``appliance.names``) before anything is written; a failure raises
an :class:`ApplianceError` with one clear line and changes nothing.

Writes that touch both the box catalog and a business file are ordered so a
crash between them leaves nothing reachable that is half made: a new business
file is complete before the catalog names it; a domain is claimed in the
catalog (which is what makes it unique across businesses) before the
business's file gets it, and released if that fails.
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import sqlite3
from pathlib import Path

from storage import box as boxdb
from storage import directory, schema
from storage.database import Database, apply_migrations, connect
from storage.errors import TenantNotFound
from storage.tenants import TenantHandle, TenantPool, check_file, export_file

from . import names, passwords
from .errors import Conflict, InvalidInput, NotFound
from .settings import PlanLimits, Settings

log = logging.getLogger(__name__)


class Provisioning:
    def __init__(self, settings: Settings, box: Database, pool: TenantPool, state_dir: Path):
        self.settings = settings
        self.box = box
        self.pool = pool
        self.state_dir = state_dir

    # -- lookups -----------------------------------------------------------

    def free_domain(self, slug: str) -> str:
        return f"{slug}.{self.settings.box.domain}"

    def slug_for_domain(self, domain: str) -> str:
        slug = self.box.read_sync("domain owner", lambda c: boxdb.tenant_for_domain(c, domain))
        if slug is None:
            raise NotFound(f"no business has domain {domain}")
        return slug

    def handle(self, slug: str) -> TenantHandle:
        slug = names.slug(slug)
        self.box.read_sync("tenant", lambda c: boxdb.get_tenant(c, slug))
        return self.pool.handle(slug)

    def _handle_for_address(self, address: str) -> tuple[TenantHandle, str]:
        domain = address.rpartition("@")[2]
        return self.pool.handle(self.slug_for_domain(domain)), domain

    def _plan(self, name: str | None) -> directory.Plan:
        name = name or self.settings.box.default_plan
        limits: PlanLimits | None = self.settings.plans.get(name)
        if limits is None:
            raise InvalidInput(f"no plan named {name!r} (have: {', '.join(sorted(self.settings.plans))})")
        return directory.Plan(limits.name, limits.max_users, limits.mailbox_bytes, limits.web_bytes, limits.messages_per_day)

    # -- businesses --------------------------------------------------------

    def create_tenant(self, slug: str, name: str | None = None, domain: str | None = None, plan: str | None = None) -> dict:
        slug = names.slug(slug)
        display = names.display_name(name) if name is not None else slug
        own = names.domain(domain) if domain else None
        the_plan = self._plan(plan)
        free = self.free_domain(slug)
        if own is not None and (own == free or own.endswith("." + self.settings.box.domain) or own == self.settings.box.domain):
            raise InvalidInput(f"domain {own} is under the box domain; businesses get {free} already")
        wanted = [free] + ([own] if own else [])

        def check(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM tenants WHERE slug = ?", (slug,)).fetchone():
                raise Conflict(f"business {slug} already exists")
            for d in wanted:
                if boxdb.tenant_for_domain(conn, d):
                    raise Conflict(f"domain {d} already belongs to another business")

        self.box.read_sync("tenant check", check)
        path = self.pool.path(slug)
        try:
            # Claim the file name atomically: of two concurrent creations of
            # one slug, exactly one gets here, and the loser removes nothing.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
        except FileExistsError:
            raise Conflict(f"a file for business {slug} already exists; import or remove it first") from None

        def init(conn: sqlite3.Connection) -> str:
            directory.init_tenant(conn, slug, display, the_plan, free)
            for hook in schema.ON_DOMAIN_ADDED:
                hook(conn, free)
            if own:
                directory.add_domain(conn, own)
                for hook in schema.ON_DOMAIN_ADDED:
                    hook(conn, own)
            for hook in schema.ON_TENANT_CREATED:
                hook(conn, slug)
            return directory.get_tenant(conn).created

        db = self.pool.get(slug, create=True)
        try:
            created = db.write_sync("tenant create", init)
            self.box.write_sync("tenant register", lambda c: boxdb.add_tenant(c, slug, display, created, wanted))
        except BaseException:
            self.pool.close(slug)
            _remove_db_files(path)
            raise
        log.info("business %s created (plan %s, domains %s)", slug, the_plan.name, " ".join(wanted))
        return self.show_tenant(slug)

    def list_tenants(self) -> list[dict]:
        return self.box.read_sync("tenant list", boxdb.list_tenants)

    def show_tenant(self, slug: str) -> dict:
        handle = self.handle(slug)

        def read(conn: sqlite3.Connection) -> dict:
            row = directory.get_tenant(conn)
            return {
                "slug": row.slug,
                "name": row.name,
                "state": row.state,
                "created": row.created,
                "plan": {
                    "name": row.plan.name,
                    "max_users": row.plan.max_users,
                    "mailbox_bytes": row.plan.mailbox_bytes,
                    "web_bytes": row.plan.web_bytes,
                    "messages_per_day": row.plan.messages_per_day,
                },
                "domains": directory.list_domains(conn),
                "users": conn.execute("SELECT count(*) FROM users").fetchone()[0],
            }

        return handle.read_sync("tenant show", read)

    def set_state(self, slug: str, state: str) -> None:
        handle = self.handle(slug)
        handle.write_sync("tenant state", lambda c: directory.set_state(c, state))
        self.box.write_sync("tenant state", lambda c: boxdb.set_state(c, handle.slug, state))

    def set_plan(self, slug: str, plan: str) -> None:
        the_plan = self._plan(plan)
        self.handle(slug).write_sync("tenant plan", lambda c: directory.set_plan(c, the_plan))
        self.box.write_sync("tenant plan", boxdb.bump_generation)

    def remove_tenant(self, slug: str) -> Path:
        """Unregister a business and move its file to ``<state>/removed/``.

        Returns where the file went; the operator deletes it when sure.
        """
        handle = self.handle(slug)
        self.box.write_sync("tenant remove", lambda c: boxdb.remove_tenant(c, handle.slug))
        db = self.pool.get(handle.slug)
        db.checkpoint()
        self.pool.close(handle.slug)
        removed = self.state_dir / "removed"
        removed.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        target = removed / f"{handle.slug}-{stamp}.sqlite3"
        path = self.pool.path(handle.slug)
        os.replace(path, target)
        _remove_db_files(path)
        log.info("business %s removed; its file is %s", handle.slug, target)
        return target

    def export_tenant(self, slug: str, target: str | Path) -> Path:
        handle = self.handle(slug)
        target = Path(target)
        if target.exists():
            raise Conflict(f"{target} already exists")
        if not target.parent.is_dir():
            raise NotFound(f"directory {target.parent} does not exist")
        export_file(self.pool.get(handle.slug), target)
        return target

    def import_tenant(self, source: str | Path) -> dict:
        """Bring a business file (an export) onto this box.

        The file is checked (integrity, foreign keys, one business row),
        copied into place, migrated, and registered; its domains must not
        belong to another business here. A business that came from a box with
        another box domain gets this box's free domain instead of its old one.
        """
        source = Path(source)
        if not source.is_file():
            raise NotFound(f"no file {source}")
        check_file(source)
        staging = self.pool.directory / f".import-{os.getpid()}.sqlite3"
        shutil.copyfile(source, staging)
        try:
            conn = connect(staging)
            try:
                apply_migrations(conn, self.pool.migrations)
                row = conn.execute("SELECT slug, name, created FROM tenant WHERE id = 1").fetchone()
                slug = names.slug(row["slug"])
                if self.pool.path(slug).exists():
                    raise Conflict(f"business {slug} already exists here")
                free = self.free_domain(slug)
                conn.execute("BEGIN IMMEDIATE")
                old_free = conn.execute("SELECT name FROM domains WHERE kind = 'free'").fetchone()
                if old_free and old_free["name"] != free:
                    _rename_domain(conn, old_free["name"], free)
                conn.execute("COMMIT")
                domains = [r["name"] for r in conn.execute("SELECT name FROM domains ORDER BY kind, name")]
                display, created = row["name"], row["created"]
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
            self.box.write_sync("tenant import", lambda c: boxdb.add_tenant(c, slug, display, created, domains))
            os.replace(staging, self.pool.path(slug))
            _remove_db_files(staging)
        except BaseException:
            _remove_db_files(staging)
            staging.unlink(missing_ok=True)
            raise
        log.info("business %s imported from %s", slug, source)
        return self.show_tenant(slug)

    def usage(self, slug: str) -> dict:
        handle = self.handle(slug)
        result = handle.read_sync("usage", directory.usage)
        result["file_bytes"] = sum(
            p.stat().st_size for p in self.pool.directory.glob(f"{handle.slug}.sqlite3*") if p.is_file()
        )
        return {"slug": handle.slug, **result}

    # -- domains -----------------------------------------------------------

    def add_domain(self, slug: str, domain: str) -> None:
        handle = self.handle(slug)
        domain = names.domain(domain)
        if domain == self.settings.box.domain or domain.endswith("." + self.settings.box.domain):
            raise InvalidInput(f"domain {domain} is under the box domain")
        self.box.write_sync("domain claim", lambda c: boxdb.claim_domain(c, handle.slug, domain))

        def add(conn: sqlite3.Connection) -> None:
            directory.add_domain(conn, domain)
            for hook in schema.ON_DOMAIN_ADDED:
                hook(conn, domain)

        try:
            handle.write_sync("domain add", add)
        except BaseException:
            self.box.write_sync("domain release", lambda c: boxdb.release_domain(c, domain))
            raise

    def remove_domain(self, domain: str) -> str:
        domain = names.domain(domain)
        slug = self.slug_for_domain(domain)
        handle = self.pool.handle(slug)
        handle.write_sync("domain remove", lambda c: directory.remove_domain(c, domain))
        self.box.write_sync("domain release", lambda c: boxdb.release_domain(c, domain))
        return slug

    # -- users -------------------------------------------------------------

    def add_user(self, address: str, password: str | None = None, name: str | None = None) -> str | None:
        """Create a user; returns the generated password when none was given."""
        address = names.address(address)
        display = names.display_name(name) if name else None
        generated = None
        if password is None:
            password = generated = passwords.generate()
        hashed = passwords.hash_password(password)
        handle, _ = self._handle_for_address(address)

        def add(conn: sqlite3.Connection) -> int:
            user_id = directory.add_user(conn, address, hashed, display)
            for hook in schema.ON_USER_CREATED:
                hook(conn, user_id)
            return user_id

        handle.write_sync("user add", add)
        self.box.write_sync("user add", boxdb.bump_generation)
        return generated

    def set_password(self, address: str, password: str | None = None) -> str | None:
        address = names.address(address)
        generated = None
        if password is None:
            password = generated = passwords.generate()
        hashed = passwords.hash_password(password)
        handle, _ = self._handle_for_address(address)
        handle.write_sync("user passwd", lambda c: directory.set_password_hash(c, address, hashed))
        return generated

    def set_quota(self, address: str, megabytes: int) -> None:
        """A user's mailbox quota in MiB; 0 gives the plan's back."""
        address = names.address(address)
        if not 0 <= megabytes <= 10_000_000:
            raise InvalidInput("quota must be between 0 and 10000000 MiB")
        handle, _ = self._handle_for_address(address)
        value = megabytes * 1024 * 1024 if megabytes else None
        handle.write_sync("user quota", lambda c: directory.set_quota(c, address, value))

    def set_role(self, address: str, role: str) -> None:
        """Make a user ``owner`` or ``member`` of its business (the control
        panel's rights); the only owner cannot be made a member."""
        address = names.address(address)
        handle, _ = self._handle_for_address(address)
        handle.write_sync("user role", lambda c: directory.set_role(c, address, role))
        self.box.write_sync("user role", boxdb.bump_generation)

    def list_users(self, slug: str) -> list[dict]:
        return self.handle(slug).read_sync("user list", directory.list_users)

    def remove_user(self, address: str) -> None:
        address = names.address(address)
        handle, _ = self._handle_for_address(address)
        handle.write_sync("user remove", lambda c: directory.remove_user(c, address))
        self.box.write_sync("user remove", boxdb.bump_generation)

    # -- aliases -----------------------------------------------------------

    def add_alias(self, address: str, targets: list[str]) -> None:
        address = names.alias_address(address)
        if not targets:
            raise InvalidInput("an alias needs at least one target")
        if len(targets) > 100:
            raise InvalidInput("at most 100 targets per alias")
        clean = [names.address(t) for t in targets]
        handle, domain = self._handle_for_address(address)
        for target in clean:
            target_domain = target.rpartition("@")[2]
            owner = self.box.read_sync("domain owner", lambda c, d=target_domain: boxdb.tenant_for_domain(c, d))
            if owner != handle.slug:
                raise InvalidInput(f"target {target} is outside this business")
        handle.write_sync("alias add", lambda c: directory.add_alias(c, address, clean))
        self.box.write_sync("alias add", boxdb.bump_generation)

    def list_aliases(self, slug: str) -> list[dict]:
        return self.handle(slug).read_sync("alias list", directory.list_aliases)

    def remove_alias(self, address: str, targets: list[str] | None = None) -> None:
        address = names.alias_address(address)
        clean = [names.address(t) for t in targets or []]
        handle, _ = self._handle_for_address(address)
        handle.write_sync("alias remove", lambda c: directory.remove_alias(c, address, clean))
        self.box.write_sync("alias remove", boxdb.bump_generation)


def _rename_domain(conn: sqlite3.Connection, old: str, new: str) -> None:
    """Move a business's free domain (and its addresses) to a new name."""
    conn.execute("UPDATE domains SET name = ? WHERE name = ?", (new, old))
    for table in ("users", "aliases"):
        conn.execute(
            f"UPDATE {table} SET address = local || '@' || domain WHERE domain = ? AND address != ''", (new,)
        )
    conn.execute("UPDATE aliases SET address = '@' || domain WHERE domain = ? AND local = ''", (new,))
    conn.execute(
        "UPDATE aliases SET target = substr(target, 1, instr(target, '@')) || ? WHERE target LIKE ?",
        (new, f"%@{old}"),
    )


def _remove_db_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)

