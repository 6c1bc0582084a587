"""A business's website: versions of static files in its own file.

Files are stored once per content (``site_blobs``, keyed by SHA-256, with a
gzip variant precomputed for compressible types when it is smaller) and
listed per version (``site_files``). ``site_live`` names the version being
served. :func:`publish` writes a whole new version, switches ``site_live`` and
drops the versions past the last :data:`KEEP_VERSIONS` (or past the web
space) and what no version uses any more, in the caller's one transaction:
a reader's snapshot sees the old site or the new one, never a mix.
:func:`roll_back` serves a kept version again.

Paths are relative POSIX paths as they appear in URLs after decoding
(``index.html``, ``img/logo.png``); :func:`check_path` is the one definition
of which are acceptable. Everything here runs inside a transaction of
:class:`storage.database.Database` (``TenantHandle.write`` / ``read``).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import sqlite3
import time
import unicodedata
from dataclasses import dataclass
from typing import Mapping

import sqlite_utils

from . import directory
from .errors import InvalidInput, LimitExceeded, NotFound


MIGRATIONS = sqlite_utils.Migrations("sites")

#: Files one version may hold.
MAX_FILES = 10_000
#: Longest path, in UTF-8 bytes.
MAX_PATH_BYTES = 1024
#: Longest single path segment, in UTF-8 bytes.
MAX_SEGMENT_BYTES = 255
#: Deepest directory nesting.
MAX_DEPTH = 16
#: Where publishing comes from.
SOURCES = ("upload", "builder")
#: Published versions kept (the live one included), so an owner can roll
#: back; fewer when together they would not fit in the plan's web space.
KEEP_VERSIONS = 10
#: Files smaller than this are not worth a gzip variant.
GZIP_MIN_BYTES = 256

#: Content types by extension. A fixed table, not the system's mime.types,
#: so every box serves a file with the same type.
TYPES: Mapping[str, str] = {
    "html": "text/html; charset=utf-8",
    "htm": "text/html; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "mjs": "text/javascript; charset=utf-8",
    "json": "application/json",
    "map": "application/json",
    "webmanifest": "application/manifest+json",
    "xml": "application/xml",
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "txt": "text/plain; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "ics": "text/calendar; charset=utf-8",
    "vcf": "text/vcard; charset=utf-8",
    "svg": "image/svg+xml",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
    "ico": "image/vnd.microsoft.icon",
    "bmp": "image/bmp",
    "woff": "font/woff",
    "woff2": "font/woff2",
    "ttf": "font/ttf",
    "otf": "font/otf",
    "pdf": "application/pdf",
    "zip": "application/zip",
    "wasm": "application/wasm",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "wav": "audio/wav",
}
DEFAULT_TYPE = "application/octet-stream"
#: C0 and C1 control characters and DEL.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_COMPRESSIBLE_PREFIXES = ("text/", "application/json", "application/manifest+json", "application/xml",
                          "application/rss+xml", "application/atom+xml", "image/svg+xml", "font/ttf",
                          "font/otf", "image/vnd.microsoft.icon", "image/bmp", "application/wasm")


@MIGRATIONS(name="0001_sites")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE site_blobs (
            hash TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            body BLOB NOT NULL,
            gzip BLOB
        );
        CREATE TABLE site_versions (
            version INTEGER PRIMARY KEY AUTOINCREMENT,
            created TEXT NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('upload', 'builder')),
            files INTEGER NOT NULL,
            bytes INTEGER NOT NULL
        );
        CREATE TABLE site_files (
            version INTEGER NOT NULL REFERENCES site_versions(version) ON DELETE CASCADE,
            path TEXT NOT NULL,
            hash TEXT NOT NULL REFERENCES site_blobs(hash),
            content_type TEXT NOT NULL,
            modified INTEGER NOT NULL,
            PRIMARY KEY (version, path)
        );
        CREATE INDEX site_files_by_hash ON site_files(hash);
        CREATE TABLE site_live (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            version INTEGER NOT NULL REFERENCES site_versions(version)
        );
        """
    )


@dataclass(frozen=True)
class SiteFile:
    """One file of the live version, as serving needs it.

    ``etag`` is a quoted strong entity tag (RFC 9110 section 8.8.3) derived
    from the content; ``modified`` is when this content first appeared at
    this path (seconds since the epoch); ``gzip`` is the precompressed body
    or None.
    """

    path: str
    content_type: str
    etag: str
    modified: int
    size: int
    body: bytes
    gzip: bytes | None


@dataclass(frozen=True)
class Resolution:
    """What a request path leads to in one snapshot of the site.

    ``kind`` is ``"file"`` (``file`` set), ``"redirect"`` (``location`` is
    the path with a slash added, as a directory), ``"missing"`` (``file`` is
    the site's own ``404.html`` or None) or ``"empty"`` (no site published).
    ``version`` is the live version the answer comes from (0: none).
    """

    kind: str
    version: int
    file: SiteFile | None = None
    location: str | None = None


def check_path(path: str) -> str:
    """Return ``path`` if it is an acceptable site path, else raise InvalidInput.

    Acceptable: a relative POSIX path of non-empty segments, none ``.`` or
    ``..``; no backslash, NUL or other control character; NFC-normalised
    Unicode that encodes to UTF-8; bounded length and depth.
    """
    if not isinstance(path, str) or not path:
        raise InvalidInput("empty file name in the site")
    shown = ascii(path)[1:-1][:80]
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"file name {shown} is not valid UTF-8") from None
    if len(encoded) > MAX_PATH_BYTES:
        raise InvalidInput(f"file name {shown}... is longer than {MAX_PATH_BYTES} bytes")
    if _CONTROL.search(path):
        raise InvalidInput(f"file name {shown} holds a control character")
    if "\\" in path:
        raise InvalidInput(f"file name {shown} holds a backslash")
    if path.startswith("/"):
        raise InvalidInput(f"file name {shown} is absolute")
    if unicodedata.normalize("NFC", path) != path:
        raise InvalidInput(f"file name {shown} is not in Unicode normal form C")
    segments = path.split("/")
    if len(segments) > MAX_DEPTH:
        raise InvalidInput(f"file name {shown} is nested deeper than {MAX_DEPTH} levels")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise InvalidInput(f"file name {shown} is not a plain relative path")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidInput(f"file name {shown} has a part longer than {MAX_SEGMENT_BYTES} bytes")
    return path


def content_type(path: str) -> str:
    """The Content-Type a file is served with, from its extension."""
    name = path.rpartition("/")[2]
    if "." not in name:
        return DEFAULT_TYPE
    return TYPES.get(name.rpartition(".")[2].lower(), DEFAULT_TYPE)


def compressible(ctype: str) -> bool:
    return ctype.startswith(_COMPRESSIBLE_PREFIXES)


def _gzip(body: bytes, ctype: str) -> bytes | None:
    if len(body) < GZIP_MIN_BYTES or not compressible(ctype):
        return None
    # mtime=0: the same content always gives the same bytes.
    packed = gzip.compress(body, compresslevel=9, mtime=0)
    return packed if len(packed) < len(body) else None


def etag_of(digest: str) -> str:
    return f'"{digest[:32]}"'


def _now() -> tuple[str, int]:
    stamp = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp)), int(stamp)


def live_version(conn: sqlite3.Connection) -> int:
    """The version being served; 0 when nothing was ever published."""
    row = conn.execute("SELECT version FROM site_live WHERE id = 1").fetchone()
    return row[0] if row else 0


def publish(conn: sqlite3.Connection, files: Mapping[str, bytes], *, limit_bytes: int | None = None,
            source: str) -> int:
    """Store ``files`` as a new version, make it live, return its number.

    Runs inside the caller's write transaction: either all of it happens or
    none. ``limit_bytes`` is the most the site may hold; None reads the
    business's web space (:func:`storage.directory.limits`, plan and
    extras) in this same transaction (the
    builder and the upload pass that). Raises :class:`InvalidInput` for a bad
    path or source and :class:`LimitExceeded` for too many files or bytes;
    nothing changes then.
    """
    if source not in SOURCES:
        raise InvalidInput(f"unknown site source {source!r}")
    if not files:
        raise InvalidInput("the site has no files")
    if len(files) > MAX_FILES:
        raise LimitExceeded(f"the site has {len(files)} files; at most {MAX_FILES} are allowed")
    plan_bytes = directory.limits(conn).web_bytes
    limit = plan_bytes if limit_bytes is None else min(limit_bytes, plan_bytes)
    total = 0
    for path, body in files.items():
        check_path(path)
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise InvalidInput(f"file {path} is not bytes")
        total += len(body)
    if total > limit:
        raise LimitExceeded(
            f"the site holds {total} bytes; the plan's web space is {limit} bytes ({limit // 2**20} MiB)"
        )
    created, stamp = _now()
    previous = live_version(conn)
    before = {
        r["path"]: (r["hash"], r["modified"])
        for r in conn.execute("SELECT path, hash, modified FROM site_files WHERE version = ?", (previous,))
    }
    version = conn.execute(
        "INSERT INTO site_versions (created, source, files, bytes) VALUES (?, ?, ?, ?)",
        (created, source, len(files), total),
    ).lastrowid
    for path, body in sorted(files.items()):
        body = bytes(body)
        digest = hashlib.sha256(body).hexdigest()
        ctype = content_type(path)
        stored = conn.execute("SELECT gzip IS NULL FROM site_blobs WHERE hash = ?", (digest,)).fetchone()
        if stored is None:
            conn.execute(
                "INSERT INTO site_blobs (hash, size, body, gzip) VALUES (?, ?, ?, ?)",
                (digest, len(body), body, _gzip(body, ctype)),
            )
        elif stored[0] and compressible(ctype):
            # The same bytes were first stored under a type not worth
            # compressing; this path's type is.
            conn.execute("UPDATE site_blobs SET gzip = ? WHERE hash = ?", (_gzip(body, ctype), digest))
        old = before.get(path)
        modified = old[1] if old is not None and old[0] == digest else stamp
        conn.execute(
            "INSERT INTO site_files (version, path, hash, content_type, modified) VALUES (?, ?, ?, ?, ?)",
            (version, path, digest, ctype, modified),
        )
    conn.execute(
        "INSERT INTO site_live (id, version) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version",
        (version,),
    )
    _prune(conn, version, limit)
    return version


def _stored_bytes(conn: sqlite3.Connection, versions: list[int]) -> int:
    """Bytes of the distinct contents ``versions`` hold together."""
    marks = ",".join("?" * len(versions))
    return conn.execute(
        f"SELECT coalesce(sum(size), 0) FROM site_blobs WHERE hash IN"
        f" (SELECT hash FROM site_files WHERE version IN ({marks}))", versions,
    ).fetchone()[0]


def _prune(conn: sqlite3.Connection, live: int, limit: int) -> None:
    """Keep ``live`` and the newest earlier versions, at most
    :data:`KEEP_VERSIONS` in all and together within ``limit`` bytes of
    stored content (the oldest go first); drop the rest and every blob no
    kept version uses."""
    keep = [live]
    for (older,) in conn.execute(
        "SELECT version FROM site_versions WHERE version != ? ORDER BY version DESC", (live,)
    ).fetchall():
        if len(keep) >= KEEP_VERSIONS or _stored_bytes(conn, keep + [older]) > limit:
            break
        keep.append(older)
    marks = ",".join("?" * len(keep))
    conn.execute(f"DELETE FROM site_versions WHERE version NOT IN ({marks})", keep)
    conn.execute("DELETE FROM site_blobs WHERE hash NOT IN (SELECT hash FROM site_files)")


def versions(conn: sqlite3.Connection) -> list[dict]:
    """The versions kept, newest first: version, created, source, files,
    bytes and whether it is the one served (``live``)."""
    live = live_version(conn)
    return [
        {**dict(r), "live": r["version"] == live}
        for r in conn.execute("SELECT version, created, source, files, bytes FROM site_versions ORDER BY version DESC")
    ]


def roll_back(conn: sqlite3.Connection, version: int) -> None:
    """Serve the kept ``version`` again (newer ones stay kept, so this can
    be undone). Raises :class:`NotFound` for a version not kept."""
    if conn.execute("SELECT 1 FROM site_versions WHERE version = ?", (version,)).fetchone() is None:
        raise NotFound(f"no version {version} is kept")
    conn.execute("UPDATE site_live SET version = ? WHERE id = 1", (version,))


def files_of(conn: sqlite3.Connection) -> dict[str, bytes]:
    """Every file of the live version (empty when nothing is published)."""
    rows = conn.execute(
        "SELECT f.path, b.body FROM site_live l JOIN site_files f ON f.version = l.version"
        " JOIN site_blobs b ON b.hash = f.hash ORDER BY f.path"
    )
    return {r["path"]: bytes(r["body"]) for r in rows}


def summary(conn: sqlite3.Connection) -> dict:
    """The live version, its files and sizes, and the plan's web space."""
    limit = directory.limits(conn).web_bytes
    version = live_version(conn)
    row = conn.execute("SELECT * FROM site_versions WHERE version = ?", (version,)).fetchone()
    files = [
        {"path": r["path"], "bytes": r["size"], "type": r["content_type"], "gzip_bytes": r["gz"]}
        for r in conn.execute(
            "SELECT f.path, f.content_type, b.size, length(b.gzip) AS gz FROM site_files f"
            " JOIN site_blobs b ON b.hash = f.hash WHERE f.version = ? ORDER BY f.path",
            (version,),
        )
    ]
    return {
        "version": version,
        "published": row["created"] if row else None,
        "source": row["source"] if row else None,
        "files": files,
        "bytes": row["bytes"] if row else 0,
        "limit_bytes": limit,
    }


_FILE_SQL = (
    "SELECT f.path, f.content_type, f.modified, f.hash, b.size, b.body, b.gzip FROM site_files f"
    " JOIN site_blobs b ON b.hash = f.hash WHERE f.version = ? AND f.path = ?"
)


def _file(conn: sqlite3.Connection, version: int, path: str) -> SiteFile | None:
    row = conn.execute(_FILE_SQL, (version, path)).fetchone()
    if row is None:
        return None
    # A blob shared with a compressible file may have a variant this type
    # should not be served with.
    gz = row["gzip"] if compressible(row["content_type"]) else None
    return SiteFile(row["path"], row["content_type"], etag_of(row["hash"]), row["modified"], row["size"],
                    bytes(row["body"]), bytes(gz) if gz is not None else None)


def resolve(conn: sqlite3.Connection, path: str) -> Resolution:
    """What the request path ``path`` (decoded, checked, without the leading
    slash; empty for the root; ending in ``/`` for a directory) leads to.

    A directory serves its ``index.html``; a name that is a directory is
    redirected to the name with a slash (as nginx does); anything else that
    is missing gets the site's ``404.html`` if it has one.
    """
    version = live_version(conn)
    if not version:
        return Resolution("empty", 0)
    if path == "" or path.endswith("/"):
        found = _file(conn, version, path + "index.html")
    else:
        found = _file(conn, version, path)
        if found is None and _file_exists(conn, version, path + "/index.html"):
            return Resolution("redirect", version, location=path + "/")
    if found is not None:
        return Resolution("file", version, found)
    return Resolution("missing", version, _file(conn, version, "404.html"))


def _file_exists(conn: sqlite3.Connection, version: int, path: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM site_files WHERE version = ? AND path = ?", (version, path)
    ).fetchone() is not None

