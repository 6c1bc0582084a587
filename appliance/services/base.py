"""What every service shares: the stores, the settings, and the lookups
from a name the operator (or a user) typed to the business that owns it.

:class:`Stores` is the one place the services resolve a slug, a domain or an
address to a business's handle; it is where a catalog cache plugs in, so no
service reads the box database for a lookup on its own.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from storage import box as boxdb
from storage import directory
from storage import plans
from storage.database import Database
from storage.tenants import TenantHandle, TenantPool

from storage import names
from .. import fleet
from ..catalog import Catalog
from ..errors import InvalidInput, NotFound
from ..settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Stores:
    """The box database, the business files and the settings, with lookups."""

    settings: Settings
    box: Database
    tenants: TenantPool
    state_dir: Path
    #: The App's one domain -> business cache (:mod:`appliance.catalog`).
    catalog: Catalog
    #: Called (from any thread) after :meth:`changed`: the daemon's own
    #: changes wake its generation watcher at once instead of at its next look.
    on_changed: Callable[[], None] | None = None

    @property
    def box_domain(self) -> str:
        return self.settings.box.domain

    def free_domain(self, slug: str) -> str:
        """The free domain every business gets: ``<slug>.<box domain>``, or
        ``<slug>.<[box] free_domain>`` in a fleet (:mod:`appliance.fleet`)."""
        return fleet.free_domain(self.settings, slug)

    def under_box_domain(self, domain: str) -> bool:
        """Whether ``domain`` is or is under the box domain or the free domains' parent."""
        return fleet.under_reserved(self.settings, domain)

    def slug_for_domain(self, domain: str) -> str:
        """The business that has ``domain``; NotFound when none has."""
        slug = self.owner_of(domain)
        if slug is None:
            raise NotFound(f"no business has domain {domain}")
        return slug

    def owner_of(self, domain: str) -> str | None:
        """The business that has ``domain``, or None (from the catalog)."""
        business = self.catalog.find_sync(domain)
        return business.slug if business is not None else None

    def handle(self, slug: str) -> TenantHandle:
        """The handle of business ``slug`` (validated); NotFound if the catalog
        does not name it."""
        slug = names.slug(slug)
        if self.catalog.find_business_sync(slug) is None:
            raise NotFound(f"no business {slug}")
        return self.tenants.handle(slug)

    def write_box(self, desc: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Write to the box database, then let the catalog reload at its next
        lookup (the generation watcher would only see it within a second)."""
        try:
            return self.box.write_sync(desc, fn)
        finally:
            self.catalog.invalidate()

    def handle_for_address(self, address: str, slug: str | None = None) -> TenantHandle:
        """The handle of the business whose domain ``address`` (or
        ``@domain``) is in; NotFound when no business (or not business
        ``slug``, when given) has that domain."""
        domain = address.rpartition("@")[2]
        if slug is not None and self.owner_of(domain) != slug:
            # One answer whether another business has it or none does.
            raise NotFound(f"business {slug} has no domain {domain}")
        return self.tenants.handle(self.slug_for_domain(domain))

    def plan(self, name: str | None) -> directory.Plan:
        """The limits of plan ``name`` (default: ``[box] default_plan``), from
        the box's plans (:mod:`storage.plans`); InvalidInput when there is none."""
        name = name or self.settings.box.default_plan

        def read(conn: sqlite3.Connection) -> tuple[directory.Plan | None, list[str]]:
            found = plans.get_plan(conn, name)
            return found, [] if found else [p.name for p in plans.list_plans(conn)]

        found, have = self.box.read_sync("plan", read)
        if found is None:
            raise InvalidInput(f"no plan named {name!r} (have: {', '.join(have)})", field="plan")
        return found

    def changed(self, desc: str) -> None:
        """Tell a running daemon that a directory changed (it polls the box
        generation and reloads routes, zones and queues within a second;
        at once for a change made inside it)."""
        self.write_box(desc, boxdb.bump_generation)
        if self.on_changed is not None:
            self.on_changed()
