"""``PROPFIND`` with ``Depth: 1`` on a calendar or address book, when only
item metadata is asked: how clients look for changed etags.

Radicale answers the collection itself (``Depth: 0``, see ``fastpath``);
the items' responses are rendered here from :func:`storage.dav.listing`
(kept between requests by :class:`Listings`) and spliced into that answer,
byte for byte what Radicale would have written for them
(``radicale.app.propfind.xml_propfind_response``). Any other
request, or any answer that does not look as expected, goes to Radicale.
"""

from __future__ import annotations

import collections
import functools
import logging
import threading
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Iterable, Sequence
from xml.etree import ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring
from radicale import xmlutils

from storage import dav

from . import fastpath
from .backend import DavBackend, Owner
from .storage import http_date

log = logging.getLogger(__name__)

DAV = fastpath.DAV
GETETAG = DAV + "getetag"
GETLASTMODIFIED = DAV + "getlastmodified"
GETCONTENTTYPE = DAV + "getcontenttype"
GETCONTENTLENGTH = DAV + "getcontentlength"
RESOURCETYPE = DAV + "resourcetype"
#: Properties whose value for an item is known without reading it.
FAST_PROPS = frozenset({GETETAG, GETLASTMODIFIED, GETCONTENTTYPE, GETCONTENTLENGTH, RESOURCETYPE})
STATUS_OK = fastpath.STATUS_OK
#: What the rendered listings kept in memory may hold, in bytes (about
#: 600 kB per 2,000 items).
CACHE_BYTES = 32 * 1024 * 1024
#: Estimated bytes per cached item beyond its text (dict slot, str header).
ENTRY_OVERHEAD = 120
#: Items per separately compressed part of a cached listing.
SEGMENT_ITEMS = 64


def parse(body: bytes) -> Any | None:
    """The request's XML root, or None when it is not well-formed UTF-8 XML
    (DTDs and entities refused, as everywhere in this package)."""
    try:
        body.decode("utf-8")
        return safe_fromstring(body, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError):
        return None


def wanted_props(body: bytes) -> tuple[str, ...] | None:
    """The properties a PROPFIND body asks for, in order (Clark notation),
    when they are a non-empty list of :data:`FAST_PROPS`; else None.

    ``allprop``, ``propname``, an empty or malformed body all give None.
    """
    root = parse(body)
    if root is None or root.tag != DAV + "propfind" or len(root) != 1 or root[0].tag != DAV + "prop":
        return None
    props = tuple(child.tag for child in root[0])
    if not props or not FAST_PROPS.issuperset(props):
        return None
    return props


@functools.lru_cache(maxsize=64)
def content_type(name: str, component: str, encoding: str) -> str:
    """An item's content type, from Radicale's own function."""
    return xmlutils.get_content_type(SimpleNamespace(name=name, component_name=component), encoding)


class Renderer:
    """Writes one item's ``response`` element for ``props``, below the
    collection at (quoted) ``href``, DAV: elements written with ``prefix``."""

    def __init__(self, href: str, props: Sequence[str], prefix: bytes, encoding: str = "utf-8"):
        p = prefix.decode() + ":" if prefix else ""
        self.encoding = encoding
        self.pieces = [(prop, f"<{p}{prop[len(DAV):]}>", f"</{p}{prop[len(DAV):]}>") for prop in props]
        self.head = f"<{p}response><{p}href>{href}"
        self.middle = f"</{p}href><{p}propstat><{p}prop>"
        self.tail = f"</{p}prop><{p}status>{STATUS_OK}</{p}status></{p}propstat></{p}response>"
        self.empty_resourcetype = f"<{p}resourcetype />"

    def __call__(self, row: dav.ListingRow) -> str:
        out = [self.head, fastpath.quote(row.href), self.middle]
        for prop, opening, closing in self.pieces:
            if prop == GETETAG:
                out += (opening, fastpath.escape(row.etag), closing)
            elif prop == GETCONTENTTYPE:
                out += (opening, content_type(row.name, row.component, self.encoding), closing)
            elif prop == GETLASTMODIFIED:
                out += (opening, http_date(row.modified), closing)
            elif prop == GETCONTENTLENGTH:
                out += (opening, str(row.size), closing)
            else:
                # An item is no collection: its resourcetype is empty
                # (RFC 4918 section 15.9).
                out.append(self.empty_resourcetype)
        out.append(self.tail)
        return "".join(out)


def render(
    href: str, rows: Iterable[dav.ListingRow], props: Sequence[str], prefix: bytes, encoding: str = "utf-8"
) -> bytes:
    """The ``response`` elements of ``rows``; see :class:`Renderer`."""
    return fastpath.join(map(Renderer(href, props, prefix, encoding), rows))


@dataclass
class Listed:
    """The rendered items of a collection at one sequence number.

    The body is kept in segments of :data:`SEGMENT_ITEMS` items, each
    compressed once when first needed (``fastpath.deflate_block``): after a
    write, a listing compresses again only the segments that changed.
    """

    id: int
    nonce: str
    seq: int
    #: href -> its response, in href order.
    fragments: dict[str, str]
    segments: list[bytes]
    blocks: list[bytes | None]

    @classmethod
    def build(cls, row: dav.CollectionRow | None, fragments: dict[str, str], older: "Listed | None" = None) -> "Listed":
        """The listing of ``fragments``, reusing the compressed segments of
        ``older`` that are unchanged."""
        texts = list(fragments.values())
        segments = ["".join(texts[i : i + SEGMENT_ITEMS]).encode() for i in range(0, len(texts), SEGMENT_ITEMS)]
        blocks: list[bytes | None] = [None] * len(segments)
        if older is not None:
            for i, (new, old) in enumerate(zip(segments, older.segments)):
                if new == old:
                    blocks[i] = older.blocks[i]
        if row is None:
            return cls(0, "", 0, fragments, segments, blocks)
        return cls(row.id, row.nonce, row.seq, fragments, segments, blocks)

    @property
    def body(self) -> bytes:
        return b"".join(self.segments)

    @property
    def size(self) -> int:
        # The text twice (fragments and segments) and room for the
        # compressed copy.
        text = sum(len(s) for s in self.segments)
        return 2 * text + text // 4 + ENTRY_OVERHEAD * len(self.fragments)

    def deflated(self) -> bytes:
        """``body`` compressed, for splicing into a gzip'd answer."""
        for i, block in enumerate(self.blocks):
            if block is None:
                self.blocks[i] = fastpath.deflate_block(self.segments[i])
        return b"".join(self.blocks)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Read:
    row: dav.CollectionRow | None
    full: list[dav.ListingRow] | None = None
    changed: Sequence[str] = ()
    changed_rows: Sequence[dav.ListingRow] = ()


class Listings:
    """The item responses of recently listed collections, kept current from
    the change log.

    Every write to a collection bumps its sequence number and logs the
    hrefs it touched (``storage.dav``, what RFC 6578 sync answers from), so
    a listing reads and renders only the items written since the last one.
    A collection that was replaced (other id or nonce) or whose log was
    pruned past the cached point is read whole. Entries go least recently
    used first once they hold more than ``max_bytes``.
    """

    def __init__(self, max_bytes: int = CACHE_BYTES):
        self.max_bytes = max_bytes
        self._entries: collections.OrderedDict[tuple, Listed] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def items(self, owner: Owner, path: str, props: Sequence[str], prefix: bytes, encoding: str) -> Listed:
        """The ``response`` elements of every item of the collection at
        ``path`` (none when it is gone or holds no items), as :func:`render`
        writes them."""
        key = (owner.handle.slug, path, tuple(props), prefix, encoding)
        with self._lock:
            entry = self._entries.get(key)

        def read(conn: Any) -> _Read:
            row = dav.get_collection(conn, path)
            if row is None or not row.tag:
                return _Read(row)
            current = entry is not None and (entry.id, entry.nonce) == (row.id, row.nonce)
            if entry is None or not current or not row.horizon <= entry.seq <= row.seq:
                return _Read(row, full=dav.listing(conn, row.id))
            changed = dav.changes_since(conn, row.id, entry.seq) if entry.seq < row.seq else []
            return _Read(row, changed=changed, changed_rows=dav.listing(conn, row.id, changed) if changed else ())

        got = owner.handle.read_sync("dav listing", read)
        row = got.row
        if row is None or not row.tag:
            return Listed.build(None, {})
        if got.full is None and not got.changed:
            assert entry is not None
            listed = entry
        else:
            fragment = Renderer(fastpath.collection_href(path), props, prefix, encoding)
            if got.full is not None:
                fragments = {r.href: fragment(r) for r in got.full}
            else:
                assert entry is not None
                fragments = dict(entry.fragments)
                present = {r.href for r in got.changed_rows}
                for href in got.changed:
                    if href not in present:
                        fragments.pop(href, None)
                added = False
                for r in got.changed_rows:
                    added = added or r.href not in fragments
                    # A rewritten item keeps its place in the dict.
                    fragments[r.href] = fragment(r)
                if added:
                    fragments = dict(sorted(fragments.items()))
            listed = Listed.build(row, fragments, entry if got.full is None else None)
        self._keep(key, listed)
        return listed

    def _keep(self, key: tuple, entry: Listed) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
                # A concurrent listing may have read a later state.
                if (old.id, old.nonce) == (entry.id, entry.nonce) and old.seq > entry.seq:
                    entry = old
            if entry.size > self.max_bytes:
                return
            self._entries[key] = entry
            self._bytes += entry.size
            while self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.size


def respond(
    radicale: Any, backend: DavBackend, listings: Listings, environ: dict, start_response: fastpath.StartResponse,
    body: bytes, props: Sequence[str],
) -> list[bytes]:
    """Answer a PROPFIND ``Depth: 1`` asking for ``props`` (see
    :func:`wanted_props`) as Radicale would, fast when the path is a
    calendar or address book the user may read."""
    path = fastpath.collection_path(environ.get("PATH_INFO", ""))
    if path is None:
        return radicale(environ, start_response)
    reply = fastpath.call(radicale, environ, body, HTTP_DEPTH="0")
    if reply.status != fastpath.MULTI_STATUS:
        # Refused, absent or malformed: Radicale's answer stands.
        return fastpath.send(environ, start_response, reply)
    document = reply.body
    prefix = fastpath.dav_prefix(document)
    href = fastpath.collection_href(path)
    owner = backend.owner(path.partition("/")[0])
    if prefix is None or owner is None or not fastpath.only_response_is(document, prefix, href):
        log.warning("%s: unexpected answer for %s, listing through Radicale", environ.get("REMOTE_ADDR", "-"), path)
        return radicale(environ, start_response)
    # Read after Radicale's answer: a write in between shows new items
    # beside an older collection etag, which makes clients look again,
    # never the reverse.
    listed = listings.items(owner, path, props, prefix, radicale.configuration.get("encoding", "request"))
    close = fastpath.CLOSE_RE.search(document)
    reply.chunks = [document[: close.start()], listed.body, document[close.start():]]
    return fastpath.send(environ, start_response, reply, lambda i: listed.deflated() if i == 1 else None)
