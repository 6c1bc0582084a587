"""Radicale's storage plugin on the business files (``storage.dav``).

See ``radicale.storage.BaseStorage`` / ``BaseCollection`` for the contract.
What differs from Radicale's file storage:

* items are stored serialised with their uid, component, etag and time
  range, so listing, multiget and time-range REPORTs never parse iCalendar;
* ``sync`` answers from a change log (RFC 6578), not by hashing everything;
* the ctag (``etag`` of a collection) is the collection's sequence number;
* a write returns only after its transaction committed (the WSGI thread
  blocks on ``write_sync``), so 201/204 means durable.

Plan limits, the business's quota and a full disk are refused as
``ENOSPC``, which Radicale answers ``507 Insufficient Storage`` (RFC 4918
section 11.5).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import time
import xml.etree.ElementTree as ET
from typing import Any, Iterable, Iterator, Mapping, Optional

from radicale import item as radicale_item
from radicale import pathutils, types
from radicale.item import filter as radicale_filter
from radicale.storage import BaseCollection, BaseStorage

from appliance.errors import ApplianceError, LimitExceeded
from storage import dav
from storage.errors import Frozen, StorageFull

from . import bounds
from .backend import DavBackend, Owner

log = logging.getLogger(__name__)

#: Sync tokens are URIs (RFC 6578 section 3.2); ours name the collection's
#: nonce (changes when it is recreated) and its sequence number.
TOKEN_PREFIX = "urn:x-appliance:sync:"
#: Collection property (Clark notation) that once told the ICS feed's URL.
#: Only its token's hash is stored now (the panel shows the link when it
#: is made), so it is never answered, nor stored by a PROPPATCH.
FEED_PROP = "{urn:x-appliance:dav}feed-url"
MAX_HREF = 255


def http_date(timestamp: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(timestamp))


class Moving(BaseException):
    """A write refused because the business is moving to another box
    (:class:`storage.errors.Frozen`). A BaseException so that it passes
    through Radicale, which would answer any Exception 400 or 500;
    :class:`protocols.dav.wsgi.DavWsgi` answers it 503 with Retry-After."""


def _refuse(exc: ApplianceError) -> ValueError:
    if isinstance(exc, Frozen):
        raise Moving(str(exc)) from None
    # Radicale maps "[Errno 28]" in an upload error to 507: a plan limit,
    # and a full disk (RFC 4918 section 11.5: the server "is unable to
    # store the representation"); the writer has logged the disk.
    if isinstance(exc, (LimitExceeded, StorageFull)):
        return ValueError(f"[Errno {errno.ENOSPC}] {exc}")
    return ValueError(str(exc))


class Root(BaseCollection):
    """``/dav/``: exists, holds nothing anyone can list."""

    def __init__(self, storage: "Storage"):
        self._storage = storage

    @property
    def path(self) -> str:
        return ""

    @property
    def tag(self) -> str:
        return ""

    @property
    def etag(self) -> str:
        return '"root"'

    @property
    def last_modified(self) -> str:
        return http_date(0)

    def get_meta(self, key: Optional[str] = None) -> Any:
        return None if key is not None else {}

    def get_all(self) -> Iterable[radicale_item.Item]:
        return ()

    def get_multi(self, hrefs: Iterable[str]) -> Iterable:
        return ((href, None) for href in hrefs)

    def sync(self, old_token: str = "") -> tuple[str, Iterable[str]]:
        raise ValueError("the root has no sync token")


class Collection(BaseCollection):
    """A principal or a calendar/address book of one business."""

    def __init__(self, storage: "Storage", owner: Owner, row: dav.CollectionRow):
        self._storage = storage
        self._owner = owner
        self._row = row

    # -- identity and properties ------------------------------------------------

    @property
    def path(self) -> str:
        return self._row.path

    @property
    def tag(self) -> str:
        return self._row.tag

    @property
    def etag(self) -> str:
        return f'"{self._row.nonce}-{self._row.seq}"'

    @property
    def last_modified(self) -> str:
        return http_date(self._row.modified)

    def _read(self, desc: str, fn: Any) -> Any:
        return self._owner.handle.read_sync(desc, fn)

    def _write(self, desc: str, fn: Any) -> Any:
        try:
            return self._owner.handle.write_sync(desc, fn)
        except ApplianceError as exc:
            raise _refuse(exc) from None

    def get_meta(self, key: Optional[str] = None) -> Any:
        props = dict(self._row.props)
        if self._row.tag == "VCALENDAR":
            props.update(bounds.advertised(self._storage.backend.max_instances))
        return props if key is None else props.get(key)

    def set_meta(self, props: Mapping[str, str]) -> None:
        # Computed properties are not stored (a PROPPATCH cannot change them).
        computed = {FEED_PROP, *bounds.advertised(0)}
        clean = {k: v for k, v in props.items() if k not in computed}
        if self._row.tag:
            clean["tag"] = self._row.tag
        self._write("dav proppatch", lambda c: dav.set_props(c, self._row.id, clean))
        self._refresh()

    def _refresh(self) -> None:
        row = self._read("dav collection", lambda c: dav.get_collection(c, self._row.path))
        if row is not None:
            self._row = row

    # -- items ------------------------------------------------------------------

    def _item(self, row: dav.ItemRow) -> radicale_item.Item:
        return radicale_item.Item(
            collection=self, href=row.href, last_modified=http_date(row.modified), etag=row.etag,
            text=row.text, uid=row.uid, name=row.name, component_name=row.component,
            time_range=(row.start, row.end),
        )

    def get_multi(self, hrefs: Iterable[str]) -> Iterator[tuple[str, Optional[radicale_item.Item]]]:
        hrefs = list(hrefs)
        if not self._row.tag:
            yield from ((href, None) for href in hrefs)
            return
        found = self._read("dav multiget", lambda c: dav.get_items(c, self._row.id, hrefs))
        for href in hrefs:
            row = found.get(href)
            yield href, None if row is None else self._item(row)

    def get_all(self) -> Iterator[radicale_item.Item]:
        if not self._row.tag:
            return
        for row in self._read("dav list", lambda c: dav.all_items(c, self._row.id)):
            yield self._item(row)

    def get_filtered(self, filters: Iterable[ET.Element]) -> Iterator[tuple[radicale_item.Item, bool]]:
        if not self._row.tag:
            return
        tag, start, end, simple = radicale_filter.simplify_prefilters(filters, self._row.tag)
        rows = self._read("dav time range", lambda c: dav.items_in_range(c, self._row.id, tag, start, end))
        for row in rows:
            # As BaseCollection.get_filtered: the prefilter is exact only
            # when the item's range lies inside the query's on one side.
            yield self._item(row), simple and (start <= row.start or row.end <= end)

    def has_uid(self, uid: str) -> bool:
        return self._read("dav has uid", lambda c: dav.has_uid(c, self._row.id, uid))

    def upload(self, href: str, item: radicale_item.Item) -> tuple[radicale_item.Item, Optional[radicale_item.Item]]:
        new = self._storage.new_item(href, item)
        limits = self._storage.backend.limits()
        row, old = self._write("dav put", lambda c: dav.put_item(c, self._row.id, new, limits=limits))
        self._refresh()
        return self._item(row), None if old is None else self._item(old)

    def delete(self, href: Optional[str] = None) -> None:
        if href is None:
            self._write("dav delete collection", lambda c: dav.delete_collection(c, self._row.path))
            return
        self._write("dav delete", lambda c: dav.delete_item(c, self._row.id, href))
        self._refresh()

    # -- sync (RFC 6578) -----------------------------------------------------------

    def sync(self, old_token: str = "") -> tuple[str, Iterable[str]]:
        """See BaseCollection.sync. Raises ValueError for a token that is not
        this collection's or is older than what the change log still holds."""
        row_id, path = self._row.id, self._row.path
        since = parse_sync_token(old_token)

        def read(conn: Any) -> tuple[dav.CollectionRow | None, list[str]]:
            row = dav.get_collection(conn, path)
            if row is None or row.id != row_id:
                return None, []
            return row, changed_hrefs(conn, row, since)

        row, hrefs = self._read("dav sync", read)
        if row is None:
            raise ValueError("collection was replaced")
        self._row = row
        return sync_token(row), hrefs


def parse_sync_token(token: str) -> tuple[str, int] | None:
    """(nonce, seq) of a sync token, None for no token; ValueError when it
    is not one of ours."""
    if not token:
        return None
    nonce, _, seq_text = token.removeprefix(TOKEN_PREFIX).partition(":")
    if not token.startswith(TOKEN_PREFIX) or not seq_text.isdigit() or len(seq_text) > 18:
        raise ValueError("malformed sync token")
    return nonce, int(seq_text)


def sync_token(row: dav.CollectionRow) -> str:
    """The collection's current sync token."""
    return f"{TOKEN_PREFIX}{row.nonce}:{row.seq}"


def changed_hrefs(conn: Any, row: dav.CollectionRow, since: tuple[str, int] | None) -> list[str]:
    """The hrefs changed (deletions included) since ``since``, or every
    item's when None; ValueError when ``since`` is not this collection's or
    is older than what its change log still holds."""
    if since is None:
        return [i.href for i in dav.listing(conn, row.id)]
    nonce, seq = since
    if nonce != row.nonce or seq > row.seq or seq < row.horizon:
        raise ValueError("sync token is not valid any more")
    return dav.changes_since(conn, row.id, seq)


class Storage(BaseStorage):
    """See ``radicale.storage.BaseStorage``. Built by :func:`config.build`
    with the App's :class:`DavBackend`."""

    def __init__(self, configuration: Any, backend: DavBackend, script_name: str = "/dav"):
        super().__init__(configuration)
        self.backend = backend
        self.script_name = script_name

    # -- helpers --------------------------------------------------------------------

    def new_item(self, href: str, item: radicale_item.Item) -> dav.NewItem:
        if not pathutils.is_safe_path_component(href) or len(href) > MAX_HREF:
            raise ValueError(f"unsafe item name {href!r}")
        item.prepare()
        text = item.serialize()
        if len(text.encode()) > self.backend.max_item_bytes:
            raise ValueError(f"[Errno {errno.ENOSPC}] item larger than {self.backend.max_item_bytes} bytes")
        start, end = item.time_range
        return dav.NewItem(href, item.uid, item.name, item.component_name, item.etag, start, end, text)

    def _collection(self, owner: Owner, row: dav.CollectionRow) -> Collection:
        return Collection(self, owner, row)

    # -- BaseStorage ------------------------------------------------------------------

    def discover(
        self, path: str, depth: str = "0", child_context_manager: Any = None, user_groups: set = frozenset()
    ) -> Iterator[types.CollectionOrItem]:
        sane = pathutils.strip_path(pathutils.sanitize_path(path))
        parts = sane.split("/") if sane else []
        if not parts:
            yield Root(self)
            return
        if len(parts) > 3:
            return
        owner = self.backend.owner(parts[0])
        if owner is None:
            return
        collection_path = "/".join(parts[:2])

        def read(conn: Any) -> tuple:
            row = dav.get_collection(conn, collection_path)
            if row is None:
                return None, None, ()
            if len(parts) == 3:
                if not row.tag:
                    return row, None, ()
                return row, dav.get_items(conn, row.id, [parts[2]]).get(parts[2]), ()
            if depth == "0":
                return row, None, ()
            if len(parts) == 1:
                kids = dav.children(conn, row.path)
                if owner.kind == "user":
                    # The business's shared collections show in every
                    # member's home: clients only look there.
                    kids += dav.children(conn, owner.handle.slug)
                return row, None, kids
            return row, None, dav.all_items(conn, row.id) if row.tag else ()

        row, item, more = owner.handle.read_sync("dav discover", read)
        if row is None:
            return
        collection = self._collection(owner, row)
        if len(parts) == 3:
            if item is not None:
                yield collection._item(item)
            return
        yield collection
        for entry in more:
            if isinstance(entry, dav.CollectionRow):
                yield self._collection(owner, entry)
            else:
                context = child_context_manager(sane, entry.href) if child_context_manager else contextlib.nullcontext()
                with context:
                    yield collection._item(entry)

    def move(self, item: radicale_item.Item, to_collection: BaseCollection, to_href: str) -> None:
        source = item.collection
        if not isinstance(source, Collection) or not isinstance(to_collection, Collection):
            raise ValueError("cannot move there")
        if source._owner.handle.slug != to_collection._owner.handle.slug:
            raise ValueError("cannot move between businesses")
        if not pathutils.is_safe_path_component(to_href) or len(to_href) > MAX_HREF:
            raise ValueError(f"unsafe item name {to_href!r}")
        source._write(
            "dav move", lambda c: dav.move_item(c, source._row.id, item.href, to_collection._row.id, to_href)
        )

    def create_collection(
        self, href: str, items: Optional[Iterable[radicale_item.Item]] = None, props: Optional[Mapping[str, str]] = None
    ) -> tuple[BaseCollection, dict, list]:
        sane = pathutils.strip_path(href)
        parts = sane.split("/") if sane else []
        if not 1 <= len(parts) <= 2:
            raise ValueError(f"cannot create a collection at {href!r}")
        owner = self.backend.owner(parts[0])
        if owner is None:
            raise ValueError(f"no such owner {parts[0]!r}")
        limits = self.backend.limits()
        if len(parts) == 1:
            def make_home(conn: Any) -> dav.CollectionRow | None:
                if owner.kind == "user":
                    return dav.ensure_user_home(conn, owner.name)
                return dav.ensure_principal(conn, owner.name, None)

            row = self._write(owner, "dav home", make_home)
            if row is None:
                raise ValueError(f"no user {owner.name!r}")
            return self._collection(owner, row), {}, []
        props = dict(props or {})
        tag = props.get("tag", "")
        suffix = ".vcf" if tag == "VADDRESSBOOK" else ".ics"
        used: set[str] = set()
        new_items = []
        for item in items or ():
            name = item.href or _href_for(item.uid, suffix, used)
            used.add(name)
            new_items.append(self.new_item(name, item))

        def replace(conn: Any) -> tuple:
            return dav.replace_collection(conn, sane, tag, props, new_items, limits=limits)

        row, replaced, new_hrefs = self._write(owner, "dav create collection", replace)
        collection = self._collection(owner, row)
        return collection, {h: collection._item(r) for h, r in replaced.items()}, new_hrefs

    def _write(self, owner: Owner, desc: str, fn: Any) -> Any:
        try:
            return owner.handle.write_sync(desc, fn)
        except ApplianceError as exc:
            raise _refuse(exc) from None

    @contextlib.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args: Any, **kwargs: Any) -> Iterator[None]:
        """See BaseStorage.acquire_lock; the lock is per business (the
        user's), since nobody reaches another business's data."""
        lock = self.backend.lock(self.backend.slug_of_user(user) or "")
        with lock.write() if mode == "w" else lock.read():
            yield

    def verify(self) -> bool:
        return True


def _href_for(uid: str, suffix: str, used: set[str]) -> str:
    """A name for an item of a whole-collection PUT: its UID when that is a
    safe, unused name (as Radicale's file storage does), else a random one."""
    name = uid + suffix
    if uid and pathutils.is_safe_path_component(name) and len(name) <= MAX_HREF and name not in used:
        return name
    return radicale_item.find_available_uid(lambda n: n in used, suffix)
