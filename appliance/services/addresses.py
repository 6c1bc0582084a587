"""Addresses: aliases and catch-alls (``@domain``) that deliver inside a
business."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass

from storage import directory

from storage import names
from storage.directory import BadTarget
from ..errors import InvalidInput, LimitExceeded
from .base import Stores

#: At most this many targets per alias.
MAX_TARGETS = 100
#: At most this many alias addresses (catch-alls included) per business.
MAX_ALIASES = 1000


@dataclass(frozen=True)
class Alias:
    address: str  # local@domain, or @domain for the catch-all
    targets: list[str]

    def as_dict(self) -> dict:
        return asdict(self)


class Addresses:
    """Aliases of businesses, named by address. A ``slug`` given to a
    method is the business the address must be in: NotFound otherwise."""

    def __init__(self, stores: Stores):
        self.stores = stores

    def list(self, slug: str) -> list[Alias]:
        """The aliases of business ``slug``. Raises InvalidInput, NotFound."""
        rows = self.stores.handle(slug).read_sync("alias list", directory.list_aliases)
        return [Alias(r["address"], r["targets"]) for r in rows]

    def add(self, address: str, targets: list[str], *, actor: str, slug: str | None = None) -> None:
        """Make ``address`` (or ``@domain``) deliver to ``targets`` too.

        Checks: 1 to :data:`MAX_TARGETS` valid targets, each a user or alias
        of the same business (an alias never forwards outside it); the
        address is not a user; no target is the alias itself or already
        there; a new address stays within :data:`MAX_ALIASES`. Changes: the
        business file, the catalog generation. Raises InvalidInput (a bad
        target: ``storage.directory.BadTarget``), NotFound, Conflict (the
        address is a person's: ``AddressTaken``), LimitExceeded.
        """
        address = names.alias_address(address)
        if not targets:
            raise BadTarget("an alias needs at least one target")
        if len(targets) > MAX_TARGETS:
            raise BadTarget(f"at most {MAX_TARGETS} targets per alias")
        try:
            clean = [names.address(t) for t in targets]
        except InvalidInput as exc:
            raise BadTarget(str(exc)) from None
        handle = self.stores.handle_for_address(address, slug)
        for target in clean:
            if self.stores.owner_of(target.rpartition("@")[2]) != handle.slug:
                raise BadTarget(f"target {target} is outside this business")

        def add(conn: sqlite3.Connection) -> None:
            if not directory.has_alias(conn, address) and directory.count_aliases(conn) >= MAX_ALIASES:
                raise LimitExceeded(f"a business has at most {MAX_ALIASES} aliases")
            directory.add_alias(conn, address, clean)
            directory.audit(conn, actor, "alias.add", f"{address} -> {' '.join(clean)}")

        handle.write_sync("alias add", add)
        self.stores.changed("alias add")

    def remove(self, address: str, targets: list[str] | None = None, *, actor: str,
               slug: str | None = None) -> None:
        """Remove an alias, or only the ``targets`` named. Raises
        InvalidInput, NotFound."""
        address = names.alias_address(address)
        clean = [names.address(t) for t in targets or []]

        def remove(conn: sqlite3.Connection) -> None:
            directory.remove_alias(conn, address, clean)
            directory.audit(conn, actor, "alias.remove", address)

        self.stores.handle_for_address(address, slug).write_sync("alias remove", remove)
        self.stores.changed("alias remove")
