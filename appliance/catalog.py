"""The box's catalog in memory: which business has which domain, under
what display name, in what state.

One :class:`Catalog` per App, and everything that asks "whose domain is
this?" asks it: SMTP routing (:class:`appliance.delivery.Router`), DAV
paths (``protocols.dav.backend``), web Host routing (``protocols.web``),
logins (:mod:`appliance.auth`) and provisioning. It holds one immutable
:class:`Snapshot` of the box database, replaced as a whole:

* when the box generation changes (``App._watch`` reloads it before any
  other change watcher runs, within a second of a change another process
  such as the CLI made);
* after a change made through this process (:meth:`Catalog.invalidate`,
  which provisioning calls after each write to the box);
* on a miss, when the generation moved since the snapshot was taken: a
  domain added a moment ago is found at once, and an unknown domain costs
  one read of the generation counter, not a reload.

A hit never touches the database, and :meth:`Catalog.get` never does at
all (for code on the event loop that cannot wait). The business files stay
the truth for what they hold (a user's state, a business's state at RCPT
time); the catalog answers only where a domain leads and how the business
is called.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Mapping

from storage import box as boxdb
from storage.database import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Business:
    """One business as the box catalog knows it."""

    slug: str
    name: str
    state: str
    domains: tuple[str, ...]

    @property
    def active(self) -> bool:
        return self.state == "active"


@dataclass(frozen=True)
class Snapshot:
    """The catalog at one generation; never changed once built."""

    generation: int
    businesses: Mapping[str, Business] = field(default_factory=dict)
    domains: Mapping[str, Business] = field(default_factory=dict)

    @classmethod
    def build(cls, generation: int, rows: list[dict]) -> "Snapshot":
        businesses: dict[str, Business] = {}
        domains: dict[str, Business] = {}
        for row in rows:
            business = Business(row["slug"], row["name"], row["state"], tuple(row["domains"]))
            businesses[business.slug] = business
            for domain in business.domains:
                domains[domain] = business
        return cls(generation, businesses, domains)


#: Before the first load: every lookup loads.
EMPTY = Snapshot(-1)


def _key(domain: str) -> str:
    return domain.lower().rstrip(".")


class Catalog:
    """domain -> :class:`Business`, cached per box generation. See module doc.

    Safe from the event loop (the ``async`` methods and :meth:`get`) and
    from threads (the ``_sync`` methods); a snapshot is replaced by one
    assignment, so readers never see half of one.
    """

    def __init__(self, box: Database):
        self.box = box
        self._snapshot = EMPTY
        # invalidate() moves _wanted; a load started at _wanted == n that
        # finishes installs n as _loaded, so a change made during a load
        # still forces the next one.
        self._wanted = 0
        self._loaded = -1
        self._sync_lock = threading.Lock()
        #: Loads so far (for tests and logs).
        self.loads = 0

    # -- memory only -------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def stale(self) -> bool:
        """True until the first load, and after :meth:`invalidate`."""
        return self._loaded != self._wanted

    def get(self, domain: str) -> Business | None:
        """The business that has ``domain`` in the current snapshot; never
        reads the database (a domain added within the last second may be
        missing)."""
        return self._snapshot.domains.get(_key(domain))

    def business(self, slug: str) -> Business | None:
        """The business ``slug`` in the current snapshot (memory only)."""
        return self._snapshot.businesses.get(slug)

    def businesses(self) -> list[Business]:
        """Every business of the current snapshot, by slug."""
        return [self._snapshot.businesses[s] for s in sorted(self._snapshot.businesses)]

    def invalidate(self) -> None:
        """This process changed the box: the next lookup reloads."""
        self._wanted += 1

    # -- on the event loop -----------------------------------------------

    async def find(self, domain: str) -> Business | None:
        """The business that has ``domain``: from memory, or after a reload
        when the snapshot is stale or the generation moved (module doc)."""
        key = _key(domain)
        if not self.stale:
            hit = self._snapshot.domains.get(key)
            if hit is not None:
                return hit
        await self._freshen()
        return self._snapshot.domains.get(key)

    async def find_business(self, slug: str) -> Business | None:
        if not self.stale:
            hit = self._snapshot.businesses.get(slug)
            if hit is not None:
                return hit
        await self._freshen()
        return self._snapshot.businesses.get(slug)

    async def refresh(self) -> None:
        """Reload now (the App calls this when the generation changed)."""
        wanted = self._wanted
        generation, rows = await self.box.read("catalog", boxdb.catalog)
        self._install(wanted, generation, rows)

    async def _freshen(self) -> None:
        if not self.stale:
            generation = await self.box.read("catalog generation", boxdb.generation)
            if generation == self._snapshot.generation:
                return
        await self.refresh()

    # -- from threads ------------------------------------------------------

    def find_sync(self, domain: str) -> Business | None:
        """:meth:`find` for threads other than the event loop's (it may
        block on one read of the box database)."""
        key = _key(domain)
        if not self.stale:
            hit = self._snapshot.domains.get(key)
            if hit is not None:
                return hit
        self._freshen_sync()
        return self._snapshot.domains.get(key)

    def find_business_sync(self, slug: str) -> Business | None:
        if not self.stale:
            hit = self._snapshot.businesses.get(slug)
            if hit is not None:
                return hit
        self._freshen_sync()
        return self._snapshot.businesses.get(slug)

    def refresh_sync(self) -> None:
        wanted = self._wanted
        generation, rows = self.box.read_sync("catalog", boxdb.catalog)
        self._install(wanted, generation, rows)

    def _freshen_sync(self) -> None:
        # One thread reads; the others that missed at the same time wait
        # for its snapshot instead of each reading the box.
        with self._sync_lock:
            if not self.stale:
                generation = self.box.read_sync("catalog generation", boxdb.generation)
                if generation == self._snapshot.generation:
                    return
            self.refresh_sync()

    # -- both ----------------------------------------------------------------

    def _install(self, wanted: int, generation: int, rows: list[dict]) -> None:
        # Two loads may race (a thread and the loop): the newer one wins.
        if generation >= self._snapshot.generation:
            self._snapshot = Snapshot.build(generation, rows)
            self.loads += 1
            log.debug("catalog loaded: generation %d, %d businesses", generation, len(rows))
        self._loaded = max(self._loaded, wanted)
