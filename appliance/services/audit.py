"""The audit log of a business, as its owners read it: newest first, a
page at a time."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass

from storage import directory

from ..errors import InvalidInput
from .base import Stores

#: Lines per page.
PAGE_SIZE = 50
#: The last page anyone may ask for (50 000 lines back).
MAX_PAGE = 1000


@dataclass(frozen=True)
class AuditEntry:
    at: str
    actor: str
    action: str
    detail: str
    #: Where the change came from (an IP address), or "" when not known.
    source: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    page: int
    pages: int
    total: int

    def as_dict(self) -> dict:
        return asdict(self)


class AuditLog:
    def __init__(self, stores: Stores):
        self.stores = stores

    def page(self, slug: str, page: int = 1, size: int = PAGE_SIZE) -> AuditPage:
        """Page ``page`` (from 1) of the log, ``size`` lines, newest first.

        Checks: 1 <= page <= :data:`MAX_PAGE`, 1 <= size <= :data:`PAGE_SIZE`.
        A page past the end is empty. Raises InvalidInput, NotFound.
        """
        if not 1 <= page <= MAX_PAGE or not 1 <= size <= PAGE_SIZE:
            raise InvalidInput(f"page must be 1 to {MAX_PAGE}, size 1 to {PAGE_SIZE}")

        def read(conn: sqlite3.Connection) -> AuditPage:
            total = directory.count_audit(conn)
            rows = directory.list_audit(conn, size, (page - 1) * size)
            entries = [AuditEntry(r["at"], r["actor"], r["action"], r["detail"], r["source"]) for r in rows]
            return AuditPage(entries, page, min(MAX_PAGE, max(1, -(-total // size))), total)

        return self.stores.handle(slug).read_sync("audit page", read)
