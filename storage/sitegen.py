"""The site builder's sources in a business's file: theme, profile, pages, images.

``site`` holds the one row of builder settings (theme and the profile as
JSON), ``site_pages`` each page's source text and its place in the
navigation, ``site_images`` the pictures pages and the logo use, and
``sitegen_removed`` the pages removed since the last build (restorable
until the next one: :func:`clear_removed`), ``sitegen_forms`` the
contact forms of each published version (page,
number on the page, the address it sends to, its heading): a published
form is answered from what was published with it, whatever the draft
says since, and a rollback brings its forms back with its pages. What the
sources mean is the builder's business (``sitegen``); this module stores
them, enforces counts and sizes, and refuses to remove what is still in use.

Functions take a connection and run inside a transaction of
:class:`storage.database.Database`.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

import sqlite_utils

from .errors import Conflict, InvalidInput, LimitExceeded, NotFound

from .directory import now

MIGRATIONS = sqlite_utils.Migrations("sitegen")

#: Pages one site may have.
MAX_PAGES = 50
#: Images one site may store.
MAX_IMAGES = 200
#: Bytes of page source, in total.
MAX_SOURCE_BYTES = 2 * 1024 * 1024


@MIGRATIONS(name="0001_sitegen")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE sitegen_site (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            theme TEXT NOT NULL,
            profile TEXT NOT NULL,
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            built TEXT,
            built_version INTEGER
        );
        CREATE TABLE sitegen_pages (
            name TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            nav INTEGER,
            updated TEXT NOT NULL
        );
        CREATE TABLE sitegen_images (
            name TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            data BLOB NOT NULL,
            updated TEXT NOT NULL
        );
        """
    )


@MIGRATIONS(name="0002_image_library")
def _m0002(db: sqlite_utils.Database) -> None:
    # The image library: each picture's alt text, and the small variant
    # phones are given (NULL for pictures stored before, which have none).
    db.executescript(
        """
        ALTER TABLE sitegen_images ADD COLUMN alt TEXT NOT NULL DEFAULT '';
        ALTER TABLE sitegen_images ADD COLUMN phone BLOB;
        ALTER TABLE sitegen_images ADD COLUMN phone_width INTEGER;
        ALTER TABLE sitegen_images ADD COLUMN phone_height INTEGER;
        """
    )


@MIGRATIONS(name="0003_sitegen_forms")
def _m0003(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE sitegen_forms (
            version INTEGER NOT NULL,
            page TEXT NOT NULL,
            number INTEGER NOT NULL,
            mailbox TEXT NOT NULL,
            heading TEXT NOT NULL,
            PRIMARY KEY (version, page, number)
        );
        """
    )


@MIGRATIONS(name="0004_sitegen_removed")
def _m0004(db: sqlite_utils.Database) -> None:
    # Pages removed from the draft, kept until the next build so the owner
    # can take a removal back: the source as it was and whether the page
    # was in the menu.
    db.executescript(
        """
        CREATE TABLE sitegen_removed (
            name TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            in_menu INTEGER NOT NULL,
            removed TEXT NOT NULL
        );
        """
    )


@MIGRATIONS(name="0005_sitegen_draft_stamp")
def _m0005(db: sqlite_utils.Database) -> None:
    # A random number every write to the draft (theme, profile, pages, menu,
    # pictures) changes, in that write's own transaction: what a cache of
    # built drafts is keyed by. Random rather than a counter, so a business
    # removed and made again, or restored from a backup, never meets a
    # stamp it had before for other content.
    db.executescript(
        """
        ALTER TABLE sitegen_site ADD COLUMN draft_stamp INTEGER NOT NULL DEFAULT 0;
        UPDATE sitegen_site SET draft_stamp = random();
        CREATE TRIGGER sitegen_site_new AFTER INSERT ON sitegen_site
            BEGIN UPDATE sitegen_site SET draft_stamp = random() WHERE id = 1; END;
        CREATE TRIGGER sitegen_site_change AFTER UPDATE OF theme, profile ON sitegen_site
            BEGIN UPDATE sitegen_site SET draft_stamp = random() WHERE id = 1; END;
        CREATE TRIGGER sitegen_pages_add AFTER INSERT ON sitegen_pages
            BEGIN UPDATE sitegen_site SET draft_stamp = random() WHERE id = 1; END;
        CREATE TRIGGER sitegen_pages_change AFTER UPDATE ON sitegen_pages
            BEGIN UPDATE sitegen_site SET draft_stamp = random() WHERE id = 1; END;
        CREATE TRIGGER sitegen_pages_remove AFTER DELETE ON sitegen_pages
            BEGIN UPDATE sitegen_site SET draft_stamp = random() WHERE id = 1; END;
        CREATE TRIGGER sitegen_images_add AFTER INSERT ON sitegen_images
            BEGIN UPDATE sitegen_site SET draft_stamp = random() WHERE id = 1; END;
        CREATE TRIGGER sitegen_images_change AFTER UPDATE ON sitegen_images
            BEGIN UPDATE sitegen_site SET draft_stamp = random() WHERE id = 1; END;
        CREATE TRIGGER sitegen_images_remove AFTER DELETE ON sitegen_images
            BEGIN UPDATE sitegen_site SET draft_stamp = random() WHERE id = 1; END;
        """
    )


@dataclass(frozen=True)
class Sources:
    """Everything a build reads, in one snapshot."""

    theme: str
    profile: dict
    pages: dict[str, str]
    nav: list[str]
    images: dict[str, tuple[str, int, int, bytes]]
    #: The phone variant of each picture that has one: name -> (width, height, bytes).
    phones: dict[str, tuple[int, int, bytes]] = field(default_factory=dict)
    #: The alt text of each picture of the library (may be empty for older ones).
    alts: dict[str, str] = field(default_factory=dict)


def _site_row(conn: sqlite3.Connection) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM sitegen_site WHERE id = 1").fetchone()
    if row is None:
        raise NotFound("this business has no site yet; start one with 'appliance site init SLUG --theme NAME'")
    return row


def exists(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sitegen_site WHERE id = 1").fetchone() is not None


def init_site(conn: sqlite3.Connection, theme: str, profile: dict, pages: dict[str, str]) -> None:
    """Create the site with ``theme``, ``profile`` and starter ``pages`` (in nav order)."""
    if exists(conn):
        raise Conflict("this business already has a site; change its theme with 'appliance site theme'")
    stamp = now()
    conn.execute(
        "INSERT INTO sitegen_site (id, theme, profile, created, updated) VALUES (1, ?, ?, ?, ?)",
        (theme, json.dumps(profile, sort_keys=True), stamp, stamp),
    )
    for name, source in pages.items():
        put_page(conn, name, source, create=True)


def draft_stamp(conn: sqlite3.Connection) -> int:
    """A number that changes with every write to what a build reads
    (:func:`sources`); set by the triggers of migration 0005."""
    return _site_row(conn)["draft_stamp"]


def get_theme(conn: sqlite3.Connection) -> str:
    return _site_row(conn)["theme"]


def set_theme(conn: sqlite3.Connection, theme: str) -> None:
    _site_row(conn)
    conn.execute("UPDATE sitegen_site SET theme = ?, updated = ? WHERE id = 1", (theme, now()))


def get_profile(conn: sqlite3.Connection) -> dict:
    return json.loads(_site_row(conn)["profile"])


def set_profile(conn: sqlite3.Connection, profile: dict) -> None:
    _site_row(conn)
    logo = profile.get("logo") or ""
    if logo and not _image_exists(conn, logo):
        raise NotFound(f"no image {logo}; add it with 'appliance site image add'")
    conn.execute(
        "UPDATE sitegen_site SET profile = ?, updated = ? WHERE id = 1", (json.dumps(profile, sort_keys=True), now())
    )


def mark_built(conn: sqlite3.Connection, version: int) -> None:
    """Record the build ``version``; the pages removed before it are gone for good."""
    clear_removed(conn)
    conn.execute("UPDATE sitegen_site SET built = ?, built_version = ? WHERE id = 1", (now(), version))


def put_forms(conn: sqlite3.Connection, version: int, forms: list[tuple[str, int, str, str]]) -> None:
    """Record the contact forms ``(page, number, mailbox, heading)`` of
    published ``version``, and forget those of versions no longer kept
    (``storage.sites`` prunes them in the same transaction)."""
    conn.execute("DELETE FROM sitegen_forms WHERE version = ? OR version NOT IN (SELECT version FROM site_versions)",
                 (version,))
    conn.executemany("INSERT INTO sitegen_forms (version, page, number, mailbox, heading) VALUES (?, ?, ?, ?, ?)",
                     [(version, *form) for form in forms])


def published_form(conn: sqlite3.Connection, page: str, number: int) -> tuple[str, str] | None:
    """(mailbox, heading) of form ``number`` of ``page`` in the version
    being served, or None."""
    row = conn.execute(
        "SELECT f.mailbox, f.heading FROM sitegen_forms f JOIN site_live l ON l.id = 1 AND f.version = l.version"
        " WHERE f.page = ? AND f.number = ?", (page, number)).fetchone()
    return (row[0], row[1]) if row else None


def status(conn: sqlite3.Connection) -> dict:
    row = _site_row(conn)
    return {"theme": row["theme"], "created": row["created"], "updated": row["updated"],
            "built": row["built"], "built_version": row["built_version"]}


# -- pages -------------------------------------------------------------------------


def put_page(conn: sqlite3.Connection, name: str, source: str, *, create: bool) -> None:
    """Add (``create``) or replace a page's source; a new page goes last in the navigation."""
    _site_row(conn)
    row = conn.execute("SELECT length(CAST(source AS BLOB)) AS n FROM sitegen_pages WHERE name = ?", (name,)).fetchone()
    if create and row is not None:
        raise Conflict(f"page {name} already exists; change it with 'appliance site page edit'")
    if not create and row is None:
        raise NotFound(f"no page {name}")
    if create and conn.execute("SELECT count(*) FROM sitegen_pages").fetchone()[0] >= MAX_PAGES:
        raise LimitExceeded(f"a site may have at most {MAX_PAGES} pages")
    total = conn.execute("SELECT coalesce(sum(length(CAST(source AS BLOB))), 0) FROM sitegen_pages").fetchone()[0]
    if total - (row["n"] if row else 0) + len(source.encode()) > MAX_SOURCE_BYTES:
        raise LimitExceeded(f"the pages of a site may hold at most {MAX_SOURCE_BYTES // 1024} KiB of text")
    stamp = now()
    if create:
        position = conn.execute("SELECT coalesce(max(nav), 0) + 1 FROM sitegen_pages").fetchone()[0]
        conn.execute(
            "INSERT INTO sitegen_pages (name, source, nav, updated) VALUES (?, ?, ?, ?)", (name, source, position, stamp)
        )
    else:
        conn.execute("UPDATE sitegen_pages SET source = ?, updated = ? WHERE name = ?", (source, stamp, name))
    conn.execute("UPDATE sitegen_site SET updated = ? WHERE id = 1", (stamp,))


def get_page(conn: sqlite3.Connection, name: str) -> str:
    row = conn.execute("SELECT source FROM sitegen_pages WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFound(f"no page {name}")
    return row["source"]


def remove_page(conn: sqlite3.Connection, name: str) -> None:
    """Remove a page from the draft; it is kept in ``sitegen_removed`` (a
    page of that name removed earlier is replaced) until the next build."""
    row = conn.execute("SELECT source, nav FROM sitegen_pages WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFound(f"no page {name}")
    conn.execute("DELETE FROM sitegen_pages WHERE name = ?", (name,))
    conn.execute("INSERT OR REPLACE INTO sitegen_removed (name, source, in_menu, removed) VALUES (?, ?, ?, ?)",
                 (name, row["source"], row["nav"] is not None, now()))
    _renumber(conn, [r["name"] for r in conn.execute("SELECT name FROM sitegen_pages WHERE nav IS NOT NULL ORDER BY nav")])
    conn.execute("UPDATE sitegen_site SET updated = ? WHERE id = 1", (now(),))


def list_removed(conn: sqlite3.Connection) -> list[dict]:
    """Pages removed since the last build, the latest first: name, source,
    in_menu, removed."""
    return [{"name": r["name"], "source": r["source"], "in_menu": bool(r["in_menu"]), "removed": r["removed"]}
            for r in conn.execute("SELECT * FROM sitegen_removed ORDER BY removed DESC, name")]


def removed_page(conn: sqlite3.Connection, name: str) -> dict:
    """The removed page ``name`` (as :func:`list_removed` gives it). Raises NotFound."""
    for row in list_removed(conn):
        if row["name"] == name:
            return row
    raise NotFound(f"no removed page {name}")


def restore_page(conn: sqlite3.Connection, name: str) -> None:
    """Put the removed page ``name`` back, last in the menu if it was in it.
    Raises NotFound (not removed), Conflict (a page of that name exists
    again), LimitExceeded (as :func:`put_page`)."""
    row = removed_page(conn, name)
    if conn.execute("SELECT 1 FROM sitegen_pages WHERE name = ?", (name,)).fetchone():
        raise Conflict(f"the site has a page {name} again; rename or remove it first")
    put_page(conn, name, row["source"], create=True)
    if not row["in_menu"]:
        conn.execute("UPDATE sitegen_pages SET nav = NULL WHERE name = ?", (name,))
    conn.execute("DELETE FROM sitegen_removed WHERE name = ?", (name,))


def clear_removed(conn: sqlite3.Connection) -> None:
    """Forget the removed pages (a build makes their removal final)."""
    conn.execute("DELETE FROM sitegen_removed")


def list_pages(conn: sqlite3.Connection) -> list[dict]:
    """Pages in navigation order (pages left out of the navigation last, by name)."""
    return [
        {"name": r["name"], "source": r["source"], "nav": r["nav"], "updated": r["updated"]}
        for r in conn.execute("SELECT * FROM sitegen_pages ORDER BY nav IS NULL, nav, name")
    ]


def set_nav(conn: sqlite3.Connection, names: list[str]) -> None:
    """Show exactly ``names`` in the navigation, in that order."""
    _site_row(conn)
    if len(set(names)) != len(names):
        raise InvalidInput("a page is named twice in the navigation")
    known = {r[0] for r in conn.execute("SELECT name FROM sitegen_pages")}
    for name in names:
        if name not in known:
            raise NotFound(f"no page {name}")
    conn.execute("UPDATE sitegen_pages SET nav = NULL")
    _renumber(conn, names)
    conn.execute("UPDATE sitegen_site SET updated = ? WHERE id = 1", (now(),))


def _renumber(conn: sqlite3.Connection, names: list[str]) -> None:
    for position, name in enumerate(names, start=1):
        conn.execute("UPDATE sitegen_pages SET nav = ? WHERE name = ?", (position, name))


# -- images ------------------------------------------------------------------------


def _image_exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sitegen_images WHERE name = ?", (name,)).fetchone() is not None


#: The bytes every stored picture takes, all variants counted.
_IMAGE_BYTES = "length(data) + coalesce(length(phone), 0)"


def image_bytes(conn: sqlite3.Connection) -> int:
    """Bytes the stored pictures take, every variant counted."""
    return conn.execute(f"SELECT coalesce(sum({_IMAGE_BYTES}), 0) FROM sitegen_images").fetchone()[0]


def put_image(conn: sqlite3.Connection, name: str, ctype: str, width: int, height: int, data: bytes,
              *, limit_bytes: int, alt: str = "", phone: tuple[int, int, bytes] | None = None,
              replace: bool = True) -> bool:
    """Store (or, with ``replace``, replace) an image, with its ``alt`` text
    and its ``phone`` variant (width, height, bytes); all images together,
    every variant counted, stay within ``limit_bytes``.

    Returns True when an image of that name was replaced; raises Conflict
    when one exists and ``replace`` is False."""
    _site_row(conn)
    replacing = _image_exists(conn, name)
    if replacing and not replace:
        raise Conflict(f"image {name} already exists")
    if not replacing and conn.execute("SELECT count(*) FROM sitegen_images").fetchone()[0] >= MAX_IMAGES:
        raise LimitExceeded(f"a site may store at most {MAX_IMAGES} images")
    others = conn.execute(
        f"SELECT coalesce(sum({_IMAGE_BYTES}), 0) FROM sitegen_images WHERE name != ?", (name,)
    ).fetchone()[0]
    size = len(data) + (len(phone[2]) if phone else 0)
    if others + size > limit_bytes:
        raise LimitExceeded(
            f"images would take {others + size} bytes; the plan's web space is {limit_bytes} bytes"
        )
    pw, ph, pdata = phone if phone else (None, None, None)
    conn.execute(
        "INSERT INTO sitegen_images (name, type, width, height, data, updated, alt, phone, phone_width, phone_height)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET type = excluded.type, width = excluded.width,"
        " height = excluded.height, data = excluded.data, updated = excluded.updated, alt = excluded.alt,"
        " phone = excluded.phone, phone_width = excluded.phone_width, phone_height = excluded.phone_height",
        (name, ctype, width, height, data, now(), alt, pdata, pw, ph),
    )
    return replacing


def set_alt(conn: sqlite3.Connection, name: str, alt: str) -> None:
    """Change the alt text of stored image ``name``."""
    if conn.execute("UPDATE sitegen_images SET alt = ?, updated = ? WHERE name = ?", (alt, now(), name)).rowcount == 0:
        raise NotFound(f"no image {name}")


def image_file(conn: sqlite3.Connection, name: str, phone: bool = False) -> tuple[str, bytes]:
    """(content type, bytes) of stored image ``name``, or of its phone
    variant (the image itself when it has none)."""
    row = conn.execute("SELECT type, data, phone FROM sitegen_images WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFound(f"no image {name}")
    return row["type"], bytes(row["phone"] if phone and row["phone"] is not None else row["data"])


def list_images(conn: sqlite3.Connection) -> list[dict]:
    return [
        dict(r)
        for r in conn.execute(
            f"SELECT name, type, width, height, {_IMAGE_BYTES} AS bytes, updated, alt, phone_width, phone_height"
            " FROM sitegen_images ORDER BY name"
        )
    ]


def remove_image(conn: sqlite3.Connection, name: str, used_by: list[str]) -> None:
    """Remove an image unless ``used_by`` (pages, or "the logo") still show it."""
    if not _image_exists(conn, name):
        raise NotFound(f"no image {name}")
    if used_by:
        raise Conflict(f"image {name} is still used by {', '.join(used_by)}")
    conn.execute("DELETE FROM sitegen_images WHERE name = ?", (name,))


# -- everything, for a build -------------------------------------------------------


def sources(conn: sqlite3.Connection) -> Sources:
    row = _site_row(conn)
    pages = list_pages(conn)
    return Sources(
        theme=row["theme"],
        profile=json.loads(row["profile"]),
        pages={p["name"]: p["source"] for p in pages},
        nav=[p["name"] for p in pages if p["nav"] is not None],
        images={
            r["name"]: (r["type"], r["width"], r["height"], bytes(r["data"]))
            for r in conn.execute("SELECT * FROM sitegen_images")
        },
        phones={
            r["name"]: (r["phone_width"], r["phone_height"], bytes(r["phone"]))
            for r in conn.execute("SELECT name, phone, phone_width, phone_height FROM sitegen_images"
                                  " WHERE phone IS NOT NULL")
        },
        alts={r["name"]: r["alt"] for r in conn.execute("SELECT name, alt FROM sitegen_images")},
    )
