"""Calendars, task lists and address books of one business, in its own file.

Collections are addressed by their path without leading or trailing slash
(``alice@example.com/calendar``, ``bakery/contacts``); a path with no ``/`` is
a principal (a user's home, or the business's shared area, named after its
slug). Items are stored serialised, with what a server needs to answer
without parsing them: uid, component name, etag and the enclosing time range
(recurrences expanded by the caller, infinite ones up to :data:`MAX_TIME`).

Sync (RFC 6578): every collection has a random ``nonce`` and a sequence
number ``seq`` bumped by each change; ``dav_changes`` keeps, per href, the
``seq`` of its last change (deletions included), so "what changed since seq
N" is one indexed query. Tombstones of deleted items are pruned past
:data:`MAX_TOMBSTONES` per collection; ``horizon`` then says which older
sequence numbers can no longer be answered (the client resyncs fully).

ICS feeds: a calendar or task list may have a subscription link for clients
that cannot speak CalDAV. Off until turned on; ``feed_token`` holds the
SHA-256 of the link's random token (never the token itself) and
``feed_since`` when it was made; renewing replaces both, turning it off
clears both.

Usage per business (bytes and item count) is kept by triggers, so a cascade
(a removed user takes their collections with them) keeps it right.

Functions take a connection and run inside a transaction of
:class:`storage.database.Database`; they know nothing of HTTP or iCalendar.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Sequence

import sqlite_utils

from .errors import Conflict, InvalidInput, LimitExceeded, NotFound

MIGRATIONS = sqlite_utils.Migrations("dav")

#: Upper bound of a time range that never ends (RRULE without COUNT/UNTIL).
MAX_TIME = 253402300800
MIN_TIME = -62135596800
#: Deleted hrefs remembered per collection for sync before the oldest go.
MAX_TOMBSTONES = 10_000
#: Largest JSON of collection properties.
MAX_PROPS_BYTES = 64 * 1024

#: What every user gets (RFC 4791 calendar, VTODO list, RFC 6352 address book).
PERSONAL = (
    ("calendar", "VCALENDAR", {"D:displayname": "Calendar", "C:supported-calendar-component-set": "VEVENT"}),
    ("tasks", "VCALENDAR", {"D:displayname": "Tasks", "C:supported-calendar-component-set": "VTODO"}),
    ("contacts", "VADDRESSBOOK", {"D:displayname": "Contacts"}),
)
#: What every business shares among its members.
SHARED = (
    ("calendar", "VCALENDAR", {"D:displayname": "Shared calendar", "C:supported-calendar-component-set": "VEVENT"}),
    ("projects", "VCALENDAR", {"D:displayname": "Projects", "C:supported-calendar-component-set": "VTODO"}),
    ("customers", "VADDRESSBOOK", {"D:displayname": "Customers"}),
)


@MIGRATIONS(name="0001_dav")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        f"""
        CREATE TABLE dav_collections (
            id INTEGER PRIMARY KEY,
            path TEXT UNIQUE NOT NULL,
            parent TEXT NOT NULL,
            tag TEXT NOT NULL DEFAULT '' CHECK (tag IN ('', 'VCALENDAR', 'VADDRESSBOOK', 'VSUBSCRIBED')),
            props TEXT NOT NULL DEFAULT '{{}}',
            user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
            nonce TEXT NOT NULL,
            seq INTEGER NOT NULL DEFAULT 0,
            horizon INTEGER NOT NULL DEFAULT 0,
            feed_token TEXT UNIQUE,
            modified REAL NOT NULL
        );
        CREATE INDEX dav_collections_parent ON dav_collections(parent);
        CREATE TABLE dav_items (
            id INTEGER PRIMARY KEY,
            collection_id INTEGER NOT NULL REFERENCES dav_collections(id) ON DELETE CASCADE,
            href TEXT NOT NULL,
            uid TEXT NOT NULL,
            name TEXT NOT NULL,
            component TEXT NOT NULL,
            etag TEXT NOT NULL,
            start INTEGER NOT NULL,
            end INTEGER NOT NULL,
            size INTEGER NOT NULL,
            modified REAL NOT NULL,
            text TEXT NOT NULL,
            UNIQUE (collection_id, href)
        );
        CREATE INDEX dav_items_uid ON dav_items(collection_id, uid);
        CREATE INDEX dav_items_time ON dav_items(collection_id, component, start, end);
        CREATE TABLE dav_changes (
            collection_id INTEGER NOT NULL REFERENCES dav_collections(id) ON DELETE CASCADE,
            href TEXT NOT NULL,
            seq INTEGER NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (collection_id, href)
        );
        CREATE INDEX dav_changes_seq ON dav_changes(collection_id, seq);
        CREATE TABLE dav_usage (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            bytes INTEGER NOT NULL DEFAULT 0,
            items INTEGER NOT NULL DEFAULT 0
        );
        INSERT INTO dav_usage (id) VALUES (1);
        CREATE TRIGGER dav_items_ins AFTER INSERT ON dav_items BEGIN
            UPDATE dav_usage SET bytes = bytes + NEW.size, items = items + 1 WHERE id = 1;
        END;
        CREATE TRIGGER dav_items_del AFTER DELETE ON dav_items BEGIN
            UPDATE dav_usage SET bytes = bytes - OLD.size, items = items - 1 WHERE id = 1;
        END;
        CREATE TRIGGER dav_items_upd AFTER UPDATE OF size ON dav_items BEGIN
            UPDATE dav_usage SET bytes = bytes - OLD.size + NEW.size WHERE id = 1;
        END;
        """
    )
    # A business file that existed before this module gets its defaults now.
    conn = db.conn
    if conn.execute("SELECT 1 FROM tenant WHERE id = 1").fetchone():
        on_tenant_created(conn, conn.execute("SELECT slug FROM tenant WHERE id = 1").fetchone()[0])
        for (user_id,) in conn.execute("SELECT id FROM users").fetchall():
            on_user_created(conn, user_id)


@MIGRATIONS(name="0002_dav_feeds_off")
def _m0002(db: sqlite_utils.Database) -> None:
    # Feeds were on for every calendar, their tokens stored as they are:
    # they are off now until someone turns them on (old links answer 404).
    db.executescript(
        """
        ALTER TABLE dav_collections ADD COLUMN feed_since REAL;
        UPDATE dav_collections SET feed_token = NULL;
        """
    )


# -- rows ------------------------------------------------------------------


@dataclass(frozen=True)
class CollectionRow:
    id: int
    path: str
    tag: str
    props: dict
    user_id: int | None
    nonce: str
    seq: int
    horizon: int
    #: SHA-256 (hex) of the feed's token, None while the feed is off.
    feed_token: str | None
    modified: float

    @property
    def is_principal(self) -> bool:
        return "/" not in self.path


@dataclass(frozen=True)
class ItemRow:
    href: str
    uid: str
    name: str
    component: str
    etag: str
    start: int
    end: int
    size: int
    modified: float
    text: str


class ListingRow(NamedTuple):
    """What a collection listing shows of one item: everything but its text.
    A tuple, not a dataclass, because a listing builds thousands of them."""

    href: str
    name: str
    component: str
    etag: str
    size: int
    modified: float


@dataclass(frozen=True)
class NewItem:
    """What the caller computed from an iCalendar or vCard object."""

    href: str
    uid: str
    name: str
    component: str
    etag: str
    start: int
    end: int
    text: str

    @property
    def size(self) -> int:
        return len(self.text.encode())


@dataclass(frozen=True)
class Limits:
    """Bounds a write must respect (the caller takes them from settings and plan)."""

    max_items_per_collection: int = 20_000
    max_collections_per_owner: int = 50
    max_bytes: int = 256 * 1024 * 1024


_COLLECTION_COLUMNS = "id, path, tag, props, user_id, nonce, seq, horizon, feed_token, modified"
_ITEM_COLUMNS = "href, uid, name, component, etag, start, end, size, modified, text"


def _collection(row: sqlite3.Row) -> CollectionRow:
    return CollectionRow(
        row["id"], row["path"], row["tag"], json.loads(row["props"]), row["user_id"], row["nonce"],
        row["seq"], row["horizon"], row["feed_token"], row["modified"],
    )


def _item(row: sqlite3.Row) -> ItemRow:
    return ItemRow(*tuple(row))


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


# -- provisioning hooks -----------------------------------------------------


def ensure_principal(conn: sqlite3.Connection, path: str, user_id: int | None) -> CollectionRow:
    """The principal collection ``path``, created if missing."""
    row = get_collection(conn, path)
    if row is not None:
        return row
    conn.execute(
        "INSERT INTO dav_collections (path, parent, tag, props, user_id, nonce, modified) VALUES (?, '', '', '{}', ?, ?, ?)",
        (path, user_id, secrets.token_hex(8), time.time()),
    )
    return get_collection(conn, path)


def _ensure_defaults(conn: sqlite3.Connection, owner: str, user_id: int | None, defaults: Sequence) -> None:
    ensure_principal(conn, owner, user_id)
    for name, tag, props in defaults:
        if get_collection(conn, f"{owner}/{name}") is None:
            create_collection(conn, f"{owner}/{name}", tag, props, user_id=user_id)


def on_tenant_created(conn: sqlite3.Connection, slug: str) -> None:
    """Shared calendar, shared task list (projects) and customer address book."""
    _ensure_defaults(conn, slug, None, SHARED)


def on_user_created(conn: sqlite3.Connection, user_id: int) -> None:
    """Personal calendar, task list and address book of a new user."""
    row = conn.execute("SELECT address FROM users WHERE id = ?", (user_id,)).fetchone()
    if row is None:
        raise NotFound(f"no user {user_id}")
    _ensure_defaults(conn, row["address"], user_id, PERSONAL)


def ensure_user_home(conn: sqlite3.Connection, address: str) -> CollectionRow | None:
    """Home of ``address`` with its defaults; None when no such user."""
    user = conn.execute("SELECT id FROM users WHERE address = ?", (address,)).fetchone()
    if user is None:
        return None
    _ensure_defaults(conn, address, user["id"], PERSONAL)
    return get_collection(conn, address)


# -- collections -------------------------------------------------------------


def get_collection(conn: sqlite3.Connection, path: str) -> CollectionRow | None:
    row = conn.execute(f"SELECT {_COLLECTION_COLUMNS} FROM dav_collections WHERE path = ?", (path,)).fetchone()
    return None if row is None else _collection(row)


def children(conn: sqlite3.Connection, parent: str) -> list[CollectionRow]:
    """Collections directly under the principal ``parent``."""
    rows = conn.execute(
        f"SELECT {_COLLECTION_COLUMNS} FROM dav_collections WHERE parent = ? ORDER BY path", (parent,)
    )
    return [_collection(r) for r in rows]


def collection_by_feed_token(conn: sqlite3.Connection, token: str) -> CollectionRow | None:
    """The calendar whose feed is on with ``token`` (compared by its hash)."""
    row = conn.execute(
        f"SELECT {_COLLECTION_COLUMNS} FROM dav_collections WHERE feed_token = ?", (feed_hash(token),)
    ).fetchone()
    return None if row is None else _collection(row)


def feed_hash(token: str) -> str:
    """What is stored of a feed token (random, 192 bits: a plain hash suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class FeedRow:
    """A calendar or task list with its feed's state."""

    collection: CollectionRow
    since: float | None

    @property
    def on(self) -> bool:
        return self.collection.feed_token is not None


def calendars(conn: sqlite3.Connection, owner: str) -> list[FeedRow]:
    """The calendars and task lists directly under the principal ``owner``."""
    rows = conn.execute(
        f"SELECT {_COLLECTION_COLUMNS}, feed_since FROM dav_collections WHERE parent = ? AND tag = 'VCALENDAR'"
        " ORDER BY path", (owner,)
    ).fetchall()
    return [FeedRow(_collection(r), r["feed_since"]) for r in rows]


def collection_by_nonce(conn: sqlite3.Connection, nonce: str) -> CollectionRow | None:
    row = conn.execute(f"SELECT {_COLLECTION_COLUMNS} FROM dav_collections WHERE nonce = ?", (nonce,)).fetchone()
    return None if row is None else _collection(row)


def set_feed(conn: sqlite3.Connection, collection_id: int, token: str | None) -> None:
    """Turn a collection's feed on with ``token`` (replacing any earlier
    one, which stops working at once) or, with None, off."""
    conn.execute(
        "UPDATE dav_collections SET feed_token = ?, feed_since = ? WHERE id = ?",
        (None if token is None else feed_hash(token), None if token is None else time.time(), collection_id),
    )


def _check_props(props: dict) -> str:
    text = json.dumps(props, sort_keys=True)
    if len(text.encode()) > MAX_PROPS_BYTES:
        raise LimitExceeded("collection properties too large")
    return text


def create_collection(
    conn: sqlite3.Connection,
    path: str,
    tag: str,
    props: dict,
    *,
    user_id: int | None = None,
    limits: Limits | None = None,
) -> CollectionRow:
    """Create a collection under an existing principal; Conflict if taken."""
    parent = _parent(path)
    if not parent or "/" in parent:
        raise InvalidInput("collections live directly under a principal")
    owner = get_collection(conn, parent)
    if owner is None:
        raise NotFound(f"no principal {parent}")
    if get_collection(conn, path) is not None:
        raise Conflict(f"collection {path} exists")
    limits = limits or Limits()
    count = conn.execute("SELECT count(*) FROM dav_collections WHERE parent = ?", (parent,)).fetchone()[0]
    if count >= limits.max_collections_per_owner:
        raise LimitExceeded(f"at most {limits.max_collections_per_owner} collections")
    props = {**props, "tag": tag} if tag else dict(props)
    conn.execute(
        "INSERT INTO dav_collections (path, parent, tag, props, user_id, nonce, feed_token, modified)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            path, parent, tag, _check_props(props), user_id if user_id is not None else owner.user_id,
            secrets.token_hex(8), None, time.time(),
        ),
    )
    return get_collection(conn, path)


def delete_collection(conn: sqlite3.Connection, path: str) -> None:
    """Delete a collection with its items (and, for a principal, its children)."""
    if "/" not in path:
        conn.execute("DELETE FROM dav_collections WHERE parent = ?", (path,))
    if conn.execute("DELETE FROM dav_collections WHERE path = ?", (path,)).rowcount == 0:
        raise NotFound(f"no collection {path}")


def set_props(conn: sqlite3.Connection, collection_id: int, props: dict) -> None:
    """Replace the properties (the ctag changes; no item is reported as changed)."""
    conn.execute(
        "UPDATE dav_collections SET props = ?, seq = seq + 1, modified = ? WHERE id = ?",
        (_check_props(props), time.time(), collection_id),
    )


def replace_collection(
    conn: sqlite3.Connection,
    path: str,
    tag: str,
    props: dict,
    items: Iterable[NewItem],
    *,
    user_id: int | None = None,
    limits: Limits | None = None,
) -> tuple[CollectionRow, dict[str, ItemRow], list[str]]:
    """Replace (or create) the collection at ``path`` with ``items``.

    Returns the collection, the replaced items by href and the hrefs that are
    new (what Radicale's hooks want).
    """
    old = get_collection(conn, path)
    old_items = {i.href: i for i in all_items(conn, old.id)} if old else {}
    if old is not None:
        delete_collection(conn, path)
    row = create_collection(conn, path, tag, props, user_id=user_id, limits=limits)
    new_hrefs = []
    replaced = {}
    for item in items:
        put_item(conn, row.id, item, limits=limits)
        if item.href in old_items:
            replaced[item.href] = old_items[item.href]
        else:
            new_hrefs.append(item.href)
    return get_collection(conn, path), replaced, new_hrefs


# -- items -----------------------------------------------------------------


def get_items(conn: sqlite3.Connection, collection_id: int, hrefs: Sequence[str]) -> dict[str, ItemRow]:
    """The items of ``hrefs`` that exist, by href."""
    found: dict[str, ItemRow] = {}
    hrefs = list(dict.fromkeys(hrefs))
    for i in range(0, len(hrefs), 500):
        chunk = hrefs[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for r in conn.execute(
            f"SELECT {_ITEM_COLUMNS} FROM dav_items WHERE collection_id = ? AND href IN ({marks})",
            (collection_id, *chunk),
        ):
            found[r["href"]] = _item(r)
    return found


def all_items(conn: sqlite3.Connection, collection_id: int) -> list[ItemRow]:
    rows = conn.execute(f"SELECT {_ITEM_COLUMNS} FROM dav_items WHERE collection_id = ? ORDER BY href", (collection_id,))
    return [_item(r) for r in rows]


def listing(conn: sqlite3.Connection, collection_id: int, hrefs: Sequence[str] | None = None) -> list[ListingRow]:
    """Every item of the collection (or those of ``hrefs`` that exist)
    without its text, ordered by href (the order :func:`all_items` gives)."""
    sql = "SELECT href, name, component, etag, size, modified FROM dav_items WHERE collection_id = ?"
    if hrefs is None:
        return [ListingRow(*r) for r in conn.execute(sql + " ORDER BY href", (collection_id,))]
    rows: list[ListingRow] = []
    hrefs = list(dict.fromkeys(hrefs))
    for i in range(0, len(hrefs), 500):
        chunk = hrefs[i : i + 500]
        marks = ",".join("?" * len(chunk))
        rows += (ListingRow(*r) for r in conn.execute(f"{sql} AND href IN ({marks})", (collection_id, *chunk)))
    return sorted(rows)


def count_items(conn: sqlite3.Connection, collection_id: int) -> int:
    return conn.execute("SELECT count(*) FROM dav_items WHERE collection_id = ?", (collection_id,)).fetchone()[0]


def items_in_range(
    conn: sqlite3.Connection, collection_id: int, component: str | None, start: int, end: int
) -> list[ItemRow]:
    """Items whose time range overlaps [start, end) (RFC 4791 section 9.9),
    of one component type or of all (``component`` None)."""
    sql = f"SELECT {_ITEM_COLUMNS} FROM dav_items WHERE collection_id = ? AND start < ? AND end > ?"
    args: list = [collection_id, end, start]
    if component is not None:
        sql += " AND component = ?"
        args.append(component)
    return [_item(r) for r in conn.execute(sql + " ORDER BY href", args)]


def has_uid(conn: sqlite3.Connection, collection_id: int, uid: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM dav_items WHERE collection_id = ? AND uid = ?", (collection_id, uid)).fetchone()
        is not None
    )


def item_by_uid(conn: sqlite3.Connection, collection_id: int, uid: str) -> ItemRow | None:
    """The item of ``collection_id`` with ``uid`` (the first by href), or None."""
    row = conn.execute("SELECT href FROM dav_items WHERE collection_id = ? AND uid = ? ORDER BY href LIMIT 1",
                       (collection_id, uid)).fetchone()
    return None if row is None else get_items(conn, collection_id, [row["href"]])[row["href"]]


def _bump(conn: sqlite3.Connection, collection_id: int, hrefs: Iterable[str], deleted: bool) -> int:
    seq = conn.execute(
        "UPDATE dav_collections SET seq = seq + 1, modified = ? WHERE id = ? RETURNING seq",
        (time.time(), collection_id),
    ).fetchone()[0]
    conn.executemany(
        "INSERT INTO dav_changes (collection_id, href, seq, deleted) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (collection_id, href) DO UPDATE SET seq = excluded.seq, deleted = excluded.deleted",
        [(collection_id, href, seq, int(deleted)) for href in hrefs],
    )
    if deleted:
        _prune(conn, collection_id)
    return seq


def _prune(conn: sqlite3.Connection, collection_id: int) -> None:
    count = conn.execute(
        "SELECT count(*) FROM dav_changes WHERE collection_id = ? AND deleted = 1", (collection_id,)
    ).fetchone()[0]
    if count <= MAX_TOMBSTONES:
        return
    # Drop the oldest tenth; tokens from before the newest dropped one can
    # no longer say what was deleted, so they become invalid.
    cut = conn.execute(
        "SELECT seq FROM dav_changes WHERE collection_id = ? AND deleted = 1 ORDER BY seq LIMIT 1 OFFSET ?",
        (collection_id, MAX_TOMBSTONES // 10),
    ).fetchone()[0]
    conn.execute(
        "DELETE FROM dav_changes WHERE collection_id = ? AND deleted = 1 AND seq < ?", (collection_id, cut)
    )
    conn.execute("UPDATE dav_collections SET horizon = max(horizon, ?) WHERE id = ?", (cut - 1, collection_id))


def _check_limits(conn: sqlite3.Connection, collection_id: int, item: NewItem, old: ItemRow | None, limits: Limits) -> None:
    if old is None and count_items(conn, collection_id) >= limits.max_items_per_collection:
        raise LimitExceeded(f"at most {limits.max_items_per_collection} items per collection")
    used = conn.execute("SELECT bytes FROM dav_usage WHERE id = 1").fetchone()[0]
    if used - (old.size if old else 0) + item.size > limits.max_bytes:
        raise LimitExceeded("the business's storage quota is used up")


def put_item(
    conn: sqlite3.Connection, collection_id: int, item: NewItem, *, limits: Limits | None = None
) -> tuple[ItemRow, ItemRow | None]:
    """Insert or replace an item; returns (new, old or None)."""
    old = get_items(conn, collection_id, [item.href]).get(item.href)
    _check_limits(conn, collection_id, item, old, limits or Limits())
    now = time.time()
    conn.execute(
        "INSERT INTO dav_items (collection_id, href, uid, name, component, etag, start, end, size, modified, text)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (collection_id, href) DO UPDATE SET uid = excluded.uid, name = excluded.name,"
        " component = excluded.component, etag = excluded.etag, start = excluded.start, end = excluded.end,"
        " size = excluded.size, modified = excluded.modified, text = excluded.text",
        (
            collection_id, item.href, item.uid, item.name, item.component, item.etag,
            max(MIN_TIME, min(item.start, MAX_TIME)), max(MIN_TIME, min(item.end, MAX_TIME)),
            item.size, now, item.text,
        ),
    )
    _bump(conn, collection_id, [item.href], deleted=False)
    return get_items(conn, collection_id, [item.href])[item.href], old


def delete_item(conn: sqlite3.Connection, collection_id: int, href: str) -> ItemRow:
    old = get_items(conn, collection_id, [href]).get(href)
    if old is None:
        raise NotFound(f"no item {href}")
    conn.execute("DELETE FROM dav_items WHERE collection_id = ? AND href = ?", (collection_id, href))
    _bump(conn, collection_id, [href], deleted=True)
    return old


def move_item(conn: sqlite3.Connection, source_id: int, href: str, target_id: int, to_href: str) -> None:
    """Move an item between (or within) collections of this business."""
    old = delete_item(conn, source_id, href)
    put_item(
        conn,
        target_id,
        NewItem(to_href, old.uid, old.name, old.component, old.etag, old.start, old.end, old.text),
        limits=Limits(max_items_per_collection=1 << 62, max_bytes=1 << 62),
    )


# -- sync ------------------------------------------------------------------


def changes_since(conn: sqlite3.Connection, collection_id: int, seq: int) -> list[str]:
    """Hrefs created, changed or deleted after ``seq`` (RFC 6578 section 3.2)."""
    rows = conn.execute(
        "SELECT href FROM dav_changes WHERE collection_id = ? AND seq > ? ORDER BY seq", (collection_id, seq)
    )
    return [r[0] for r in rows]


def usage(conn: sqlite3.Connection) -> dict:
    row = conn.execute("SELECT bytes, items FROM dav_usage WHERE id = 1").fetchone()
    return {"dav_bytes": row["bytes"], "dav_items": row["items"]}
