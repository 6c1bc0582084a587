"""Allow and block lists of senders, business-wide or one user's: list,
add, remove, for the CLI and the panel. What an entry does to mail is
decided in :mod:`appliance.senderlists` (checked at RCPT time on the MX).

An entry is an address (``someone@example.com``) or a domain
(``example.com``, which also covers its subdomains; ``*.example.com`` and
``@example.com`` are accepted as the same domain). Both are lower-cased,
and domains are stored in their IDNA A-label form. Each scope (the
business, or one user) holds at most :data:`MAX_BUSINESS_ENTRIES` or
:data:`MAX_USER_ENTRIES` entries over both lists.

Methods block (SQLite): a front end on the event loop runs them in a thread.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import asdict, dataclass

from storage import directory
from storage import names
from storage import senderlists as listdb
from storage.tenants import TenantHandle

from ..errors import Conflict, InvalidInput, LimitExceeded, NotFound
from .base import Stores

log = logging.getLogger(__name__)

MAX_BUSINESS_ENTRIES = 1000
MAX_USER_ENTRIES = 200
#: An address is at most 254 characters (RFC 5321 section 4.5.3.1.3).
MAX_ENTRY = names.MAX_ADDRESS
LISTS = listdb.LISTS


@dataclass(frozen=True)
class Scope:
    """Whose lists: a business (``user_id`` None) or one of its users."""

    handle: TenantHandle
    slug: str
    user_id: int | None = None
    address: str = ""

    def describe(self) -> str:
        return self.address or f"business {self.slug}"


@dataclass(frozen=True)
class Entry:
    list: str
    entry: str
    kind: str  # "address" or "domain"
    added_by: str
    added: str

    def as_dict(self) -> dict:
        return asdict(self)


def normalise(value: str) -> str:
    """An entry as stored: a lower-case address, or a domain in A-label form.
    Raises InvalidInput with one line saying what is wrong."""
    raw = value.strip()
    if not raw:
        raise InvalidInput("enter an address (someone@example.com) or a domain (example.com)")
    if len(raw) > MAX_ENTRY:
        raise InvalidInput(f"an entry may be at most {MAX_ENTRY} characters")
    if raw.startswith("*."):
        raw = raw[2:]
    elif raw.startswith("@"):
        raw = raw[1:]
    try:
        return names.address(raw) if "@" in raw else names.domain(raw)
    except InvalidInput:
        raise InvalidInput(
            f"{value.strip()!r} is neither an address (someone@example.com) nor a domain (example.com)"
        ) from None


def _list(list_: str) -> str:
    if list_ not in LISTS:
        raise InvalidInput(f"no list {list_!r}: use allow or block")
    return list_


def _entry(row: listdb.EntryRow) -> Entry:
    return Entry(row.list, row.entry, "address" if "@" in row.entry else "domain", row.added_by, row.added)


class SenderLists:
    def __init__(self, stores: Stores):
        self.stores = stores

    def scope(self, slug: str, user: str | None = None) -> Scope:
        """Business ``slug``'s lists, or (``user`` given) that user's, who must
        be a user of that business. Raises InvalidInput, NotFound."""
        handle = self.stores.handle(slug)
        slug = names.slug(slug)
        if not user:
            return Scope(handle, slug)
        address = names.address(user)
        row = handle.read_sync("sender lists user", lambda c: directory.get_user(c, address))
        if row is None:
            raise NotFound(f"no user {address} in business {slug}")
        return Scope(handle, slug, row["id"], address)

    def list(self, scope: Scope) -> list[Entry]:
        """The scope's entries, block list and allow list, each sorted."""
        rows = scope.handle.read_sync("sender lists", lambda c: listdb.entries(c, scope.user_id))
        return [_entry(r) for r in rows]

    def add(self, scope: Scope, list_: str, value: str, *, actor: str) -> Entry:
        """Add an entry to the scope's allow or block list. Checks the entry
        (:func:`normalise`) and the scope's limit. Changes: the business file
        and its audit log. Raises InvalidInput, Conflict (already there),
        LimitExceeded."""
        list_ = _list(list_)
        entry = normalise(value)
        limit = MAX_USER_ENTRIES if scope.user_id else MAX_BUSINESS_ENTRIES

        def write(conn: sqlite3.Connection) -> listdb.EntryRow:
            if listdb.count(conn, scope.user_id) >= limit:
                raise LimitExceeded(f"the lists of {scope.describe()} already hold {limit} entries, the most allowed")
            if not listdb.add(conn, scope.user_id, list_, entry, str(actor)):
                raise Conflict(f"{entry} is already on the {list_} list of {scope.describe()}")
            directory.audit(conn, actor, f"senders.{list_}.add", f"{scope.describe()} {entry}")
            return next(r for r in listdb.entries(conn, scope.user_id) if r.list == list_ and r.entry == entry)

        row = scope.handle.write_sync("sender lists add", write)
        log.info("%s: %s added to the %s list of %s", actor, entry, list_, scope.describe())
        return _entry(row)

    def remove(self, scope: Scope, list_: str, value: str, *, actor: str) -> None:
        """Remove an entry from the scope's allow or block list. Changes: the
        business file and its audit log. Raises InvalidInput, NotFound."""
        list_ = _list(list_)
        entry = normalise(value)

        def write(conn: sqlite3.Connection) -> None:
            if not listdb.remove(conn, scope.user_id, list_, entry):
                raise NotFound(f"{entry} is not on the {list_} list of {scope.describe()}")
            directory.audit(conn, actor, f"senders.{list_}.remove", f"{scope.describe()} {entry}")

        scope.handle.write_sync("sender lists remove", write)
        log.info("%s: %s removed from the %s list of %s", actor, entry, list_, scope.describe())
