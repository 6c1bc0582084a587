"""``REPORT`` ``sync-collection`` (RFC 6578) asking for etags (and content
types): how clients learn what changed since their last sync token.

Radicale answers a ``PROPFIND`` ``Depth: 0`` on the collection first (see
``fastpath``); its ``207`` naming a calendar or address book lets the
answer be built here from the change log, as
``radicale.app.report.xml_report`` would build it, with the token semantics
of ``Collection.sync``. A token that is not valid, and anything else, goes
to Radicale's REPORT.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage import dav

from . import fastpath
from .backend import DavBackend
from .listing import GETCONTENTTYPE, GETETAG, content_type, parse
from .storage import changed_hrefs, parse_sync_token, sync_token

PROPS = frozenset({GETETAG, GETCONTENTTYPE})


@dataclass(frozen=True)
class Request:
    token: str
    props: tuple[str, ...]


def parse_request(body: bytes) -> Request | None:
    """A sync-collection asking only for etags and content types (no
    filter, no limit), or None."""
    root = parse(body)
    if root is None or root.tag != fastpath.DAV + "sync-collection":
        return None
    token: str | None = None
    props: tuple[str, ...] | None = None
    for child in root:
        if len(child):
            if child.tag != fastpath.DAV + "prop" or props is not None or any(len(p) for p in child):
                return None
            props = tuple(p.tag for p in child)
        elif child.tag == fastpath.DAV + "sync-token":
            # Radicale reads the first token element, stripped.
            if token is None:
                token = (child.text or "").strip()
        elif child.tag != fastpath.DAV + "sync-level":
            return None
    if not props or not PROPS.issuperset(props):
        return None
    return Request(token or "", props)


@dataclass(frozen=True)
class _Changes:
    row: dav.CollectionRow
    hrefs: list[str]
    rows: dict[str, dav.ListingRow]


def respond(
    radicale: Any, backend: DavBackend, environ: dict, start_response: fastpath.StartResponse, request: Request
) -> list[bytes]:
    """Answer ``request`` as Radicale's REPORT would, fast when the path is
    a calendar or address book that the user may read and the token is
    valid."""
    path = fastpath.collection_path(environ.get("PATH_INFO", ""))
    if path is None:
        return radicale(environ, start_response)
    check, kind = fastpath.check_collection(radicale, environ, path)
    if check.status == fastpath.UNAUTHORIZED:
        # Radicale refuses a REPORT without a valid login exactly so.
        return fastpath.send(environ, start_response, check)
    owner = backend.owner(path.partition("/")[0])
    if kind is None or owner is None:
        return radicale(environ, start_response)
    try:
        since = parse_sync_token(request.token)
    except ValueError:
        return radicale(environ, start_response)

    def read(conn: Any) -> _Changes | None:
        row = dav.get_collection(conn, path)
        if row is None or row.tag not in ("VCALENDAR", "VADDRESSBOOK"):
            return None
        if since is None:
            rows = dav.listing(conn, row.id)
            return _Changes(row, [r.href for r in rows], {r.href: r for r in rows})
        try:
            hrefs = changed_hrefs(conn, row, since)
        except ValueError:
            return None
        return _Changes(row, hrefs, {r.href: r for r in dav.listing(conn, row.id, hrefs)})

    changes = owner.handle.read_sync("dav sync", read)
    if changes is None:
        # Radicale answers an invalid token (403 valid-sync-token).
        return radicale(environ, start_response)

    href = fastpath.collection_href(path)
    encoding = radicale.configuration.get("encoding", "request")
    out = [f"<sync-token>{fastpath.escape(sync_token(changes.row))}</sync-token>"]
    # Radicale lists the deleted items first, then the present ones.
    present = []
    for name in changes.hrefs:
        row = changes.rows.get(name)
        if row is None:
            out.append(
                f"<response><href>{href}{fastpath.quote(name)}</href><status>{fastpath.STATUS_NOT_FOUND}</status></response>"
            )
        else:
            present.append(row)
    for row in present:
        props = []
        for prop in request.props:
            if prop == GETETAG:
                props.append(f"<getetag>{fastpath.escape(row.etag)}</getetag>")
            else:
                props.append(f"<getcontenttype>{content_type(row.name, row.component, encoding)}</getcontenttype>")
        out.append(
            f"<response><href>{href}{fastpath.quote(row.href)}</href><propstat><prop>{''.join(props)}</prop>"
            f"<status>{fastpath.STATUS_OK}</status></propstat></response>"
        )
    document = fastpath.XML_DECLARATION + b'<multistatus xmlns="DAV:">' + fastpath.join(out) + b"</multistatus>"
    reply = fastpath.Reply(fastpath.MULTI_STATUS, fastpath.REPORT_HEADERS + fastpath.extra_headers(radicale.configuration), [document])
    return fastpath.send(environ, start_response, reply)
