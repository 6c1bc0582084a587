"""``REPORT`` ``calendar-multiget`` (RFC 4791 section 7.9) and
``addressbook-multiget`` (RFC 6352 section 8.7) asking for the etag, the
content type and the data: how clients fetch what a listing said changed.

Radicale answers a ``PROPFIND`` ``Depth: 0`` on the collection first (see
``fastpath``); its ``207``, naming a calendar for ``calendar-multiget`` or an
address book for ``addressbook-multiget``, lets the answer be built here
from the stored item text, as ``radicale.app.report.xml_report`` would
build it. Anything else goes to Radicale's REPORT.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from radicale import pathutils

from storage import dav

from . import fastpath
from .app import SCRIPT_NAME
from .backend import DavBackend
from .listing import GETCONTENTTYPE, GETETAG, content_type, parse

log = logging.getLogger(__name__)

CALDAV = "{urn:ietf:params:xml:ns:caldav}"
CARDDAV = "{urn:ietf:params:xml:ns:carddav}"
#: Report -> (its data property, the resourcetype it needs, that namespace's prefix).
REPORTS = {
    CALDAV + "calendar-multiget": (CALDAV + "calendar-data", fastpath.CALENDAR, "C"),
    CARDDAV + "addressbook-multiget": (CARDDAV + "address-data", fastpath.ADDRESSBOOK, "CR"),
}


@dataclass(frozen=True)
class Request:
    report: str
    props: tuple[str, ...]
    hrefs: tuple[str, ...]


def parse_request(body: bytes) -> Request | None:
    """A multiget asking only for etag, content type and data (without
    partial retrieval, expansion or filters), or None."""
    root = parse(body)
    if root is None or root.tag not in REPORTS:
        return None
    data = REPORTS[root.tag][0]
    props: tuple[str, ...] | None = None
    hrefs = []
    for child in root:
        # Radicale looks for an expansion anywhere in the body, so no
        # element may have children but the prop list.
        if child.tag == fastpath.DAV + "href" and child.text and not len(child):
            hrefs.append(child.text)
        elif child.tag == fastpath.DAV + "prop" and props is None and not any(len(p) for p in child):
            props = tuple(p.tag for p in child)
        else:
            return None
    if not props or not hrefs or not {GETETAG, GETCONTENTTYPE, data}.issuperset(props):
        return None
    return Request(root.tag, props, tuple(hrefs))


@functools.lru_cache(maxsize=8192)
def _reference(href: str) -> str | None:
    """The path below the DAV root that ``href`` names, as Radicale reads
    it, or None when it is outside the root (clients repeat the same hrefs,
    and Radicale's reading of one takes longer than answering it)."""
    path = pathutils.sanitize_path(unquote(urlparse(href).path))
    return path[len(SCRIPT_NAME):] if (path + "/").startswith(SCRIPT_NAME + "/") else None


def _references(hrefs: tuple[str, ...]) -> list[str]:
    """Paths below the DAV root that the hrefs name, unique; hrefs outside
    the root are skipped, as Radicale does."""
    found = dict.fromkeys(_reference(href) for href in hrefs)
    found.pop(None, None)
    return list(found)  # type: ignore[arg-type]


def _response(href: str, body: str) -> str:
    return f"<response><href>{href}</href>{body}</response>"


def respond(
    radicale: Any, backend: DavBackend, environ: dict, start_response: fastpath.StartResponse, request: Request
) -> list[bytes]:
    """Answer ``request`` as Radicale's REPORT would, fast when the path is
    a collection of the report's kind that the user may read."""
    path = fastpath.collection_path(environ.get("PATH_INFO", ""))
    if path is None:
        return radicale(environ, start_response)
    check, found_kind = fastpath.check_collection(radicale, environ, path)
    if check.status == fastpath.UNAUTHORIZED:
        # Radicale refuses a REPORT without a valid login exactly so.
        return fastpath.send(environ, start_response, check)
    data, kind, data_prefix = REPORTS[request.report]
    href = fastpath.collection_href(path)
    owner = backend.owner(path.partition("/")[0])
    if found_kind != kind or owner is None:
        # Refusals, absent collections and wrong reports: Radicale answers.
        return radicale(environ, start_response)

    # As ``pathutils.name_from_path`` (without its sanity asserts: the
    # references are sanitised already).
    start = f"/{path}/"
    invalid, names = [], []
    for reference in _references(request.hrefs):
        if not (reference + "/").startswith(start):
            invalid.append(reference)
            continue
        name = reference[len(start):]
        if not name:
            # The collection itself: Radicale reports all its items.
            return radicale(environ, start_response)
        if not pathutils.is_safe_path_component(name):
            invalid.append(reference)
            continue
        names.append(name)
    if not invalid and not names:
        return radicale(environ, start_response)

    def read(conn: Any) -> dict[str, dav.ItemRow] | None:
        row = dav.get_collection(conn, path)
        if row is None or row.tag != ("VCALENDAR" if data_prefix == "C" else "VADDRESSBOOK"):
            return None
        return dav.get_items(conn, row.id, names)

    items = owner.handle.read_sync("dav multiget", read)
    if items is None:
        return radicale(environ, start_response)
    limit = radicale.configuration.get("reporting", "max_expand_occurrence")
    data_count = request.props.count(data)
    # Radicale refuses (400) a report with more VEVENT lines than the limit;
    # this upper bound sends only such reports to Radicale to count exactly.
    if limit and data_count and sum(i.text.upper().count("BEGIN:VEVENT") for i in items.values()) * data_count > limit:
        return radicale(environ, start_response)

    encoding = radicale.configuration.get("encoding", "request")
    not_found = f"<status>{fastpath.STATUS_NOT_FOUND}</status>"
    out = [_response(fastpath.quote(SCRIPT_NAME + reference), not_found) for reference in invalid]
    found = []
    for name in names:
        item = items.get(name)
        if item is None:
            out.append(_response(href + fastpath.quote(name), not_found))
        else:
            found.append(item)
    data_open = f"<{data_prefix}:{data.partition('}')[2]}>"
    data_close = "</" + data_open[1:]
    for item in found:
        props = []
        for prop in request.props:
            if prop == GETETAG:
                props.append(f"<getetag>{fastpath.escape(item.etag)}</getetag>")
            elif prop == GETCONTENTTYPE:
                props.append(f"<getcontenttype>{content_type(item.name, item.component, encoding)}</getcontenttype>")
            else:
                props.append(data_open + fastpath.escape(item.text) + data_close)
        propstat = f"<propstat><prop>{''.join(props)}</prop><status>{fastpath.STATUS_OK}</status></propstat>"
        out.append(_response(href + fastpath.quote(item.href), propstat))
    # ElementTree declares on the root each namespace the tree uses.
    namespaces = ' xmlns="DAV:"'
    if found and data in request.props:
        namespaces += f' xmlns:{data_prefix}="{data[1:].partition("}")[0]}"'
    document = (
        fastpath.XML_DECLARATION + f"<multistatus{namespaces}>".encode() + fastpath.join(out) + b"</multistatus>"
    )
    reply = fastpath.Reply(fastpath.MULTI_STATUS, fastpath.REPORT_HEADERS + fastpath.extra_headers(radicale.configuration), [document])
    return fastpath.send(environ, start_response, reply)
