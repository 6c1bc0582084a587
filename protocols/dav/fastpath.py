"""What the fast answers (``listing``, ``multiget``, ``sync``) share.

Radicale builds one ElementTree element per item and property; for the
requests clients repeat all day (list the etags, fetch the changed items,
ask what changed) that work dominates. The fast answers build those
per-item responses as bytes from one SQL read instead, but leave every
decision to Radicale: it answers a ``PROPFIND`` with ``Depth: 0`` on the
collection first (login, rights, existence, the collection's own
properties), and only its ``207`` for exactly that collection lets a fast
answer go on. Radicale's sharing (``[sharing]``, off as ``app.build``
configures it) would rewrite hrefs; these answers assume it off.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable
from urllib.parse import quote as _quote
from xml.etree import ElementTree as ET

from radicale import pathutils, xmlutils

from .app import SCRIPT_NAME

if TYPE_CHECKING:
    from appliance.app import App

StartResponse = Callable[..., Any]

#: What Radicale answers a PROPFIND it served (RFC 4918 section 9.1).
MULTI_STATUS = "207 Multi-Status"
UNAUTHORIZED = "401 Unauthorized"
#: The end of Radicale's answer; group 1 is the prefix it gave DAV:, if any.
CLOSE_RE = re.compile(rb"</(?:([A-Za-z_][\w.-]*):)?multistatus>\s*\Z")
XML_DECLARATION = b"<?xml version='1.0' encoding='utf-8'?>\n"
#: What a REPORT's collection check asks Radicale for.
RESOURCETYPE_BODY = b'<?xml version="1.0"?><propfind xmlns="DAV:"><prop><resourcetype/></prop></propfind>'
DAV = "{DAV:}"
STATUS_OK = xmlutils.make_response(200)
STATUS_NOT_FOUND = xmlutils.make_response(404)
#: Headers of a REPORT answer built here, as Radicale sends them.
REPORT_HEADERS = [("Content-Type", "text/xml; charset=utf-8")]
CALENDAR = "{urn:ietf:params:xml:ns:caldav}calendar"
ADDRESSBOOK = "{urn:ietf:params:xml:ns:carddav}addressbook"
#: Characters ``urllib.parse.quote`` leaves as they are.
UNQUOTED_RE = re.compile(r"[A-Za-z0-9_.~/-]*")
#: Listings are large and repetitive: the fastest level compresses them
#: nearly as well as Radicale's default (level 6) in half the time.
GZIP_LEVEL = 1
#: RFC 1952 member header: deflate, no flags, no time, unknown OS.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


@dataclass
class Reply:
    """A WSGI answer held in memory."""

    status: str
    headers: list[tuple[str, str]]
    chunks: list[bytes]

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


def collection_path(path_info: str) -> str | None:
    """``owner/name`` when ``path_info`` names a collection below a principal
    (as Radicale reads it: sanitised, slashes stripped), else None."""
    sane = pathutils.strip_path(pathutils.sanitize_path(path_info))
    return sane if sane.count("/") == 1 else None


def quote(text: str) -> str:
    """``urllib.parse.quote``, skipped for the usual names that it leaves
    unchanged."""
    return text if UNQUOTED_RE.fullmatch(text) else _quote(text)


def collection_href(path: str) -> str:
    """The collection's href as Radicale writes it (``xmlutils.make_href``)."""
    return quote(f"{SCRIPT_NAME}/{path}/")


def call(app: App, environ: dict, body: bytes, **changes: str) -> Reply:
    """Run ``app`` on a copy of ``environ`` with ``body`` and ``changes``.

    The copy never asks for gzip, so the answer can be read and extended;
    :func:`send` compresses the final one as Radicale would have.
    """
    inner = dict(environ, **changes)
    inner.pop("HTTP_ACCEPT_ENCODING", None)
    inner["wsgi.input"] = io.BytesIO(body)
    inner["CONTENT_LENGTH"] = str(len(body))
    captured: dict = {}

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        captured["status"], captured["headers"] = status, list(headers)

    chunks = list(app(inner, start_response))
    return Reply(captured["status"], captured["headers"], chunks)


def check_collection(app: App, environ: dict, path: str) -> tuple[Reply, str | None]:
    """Radicale's answer to a PROPFIND ``Depth: 0`` on the collection at
    ``path`` for this request's user, and the collection's kind
    (:data:`CALENDAR` or :data:`ADDRESSBOOK`) when that answer is a ``207``
    naming just that collection as one of those; None otherwise."""
    reply = call(app, environ, RESOURCETYPE_BODY, REQUEST_METHOD="PROPFIND", HTTP_DEPTH="0")
    if reply.status != MULTI_STATUS:
        return reply, None
    try:
        root = ET.fromstring(reply.body)
    except ET.ParseError:
        return reply, None
    responses = root.findall("{DAV:}response")
    if len(responses) != 1 or responses[0].findtext("{DAV:}href") != collection_href(path):
        return reply, None
    types = responses[0].find("{DAV:}propstat/{DAV:}prop/{DAV:}resourcetype")
    for kind in (CALENDAR, ADDRESSBOOK):
        if types is not None and types.find(kind) is not None:
            return reply, kind
    return reply, None


def accepts_gzip(environ: dict) -> bool:
    """Whether Radicale would gzip its answer to this request (it looks for
    the exact token, without quality values)."""
    return "gzip" in [e.strip() for e in environ.get("HTTP_ACCEPT_ENCODING", "").split(",") if e.strip()]


def send(
    environ: dict, start_response: StartResponse, reply: Reply,
    deflated: Callable[[int], bytes | None] = lambda index: None,
) -> list[bytes]:
    """Start ``reply``, gzip'd when the client accepts it and there is a body
    (as Radicale does), with its Content-Length set. ``deflated(i)`` may
    give chunk ``i`` already compressed (see :func:`deflate_block`)."""
    headers = [(k, v) for k, v in reply.headers if k.lower() not in ("content-length", "content-encoding")]
    if not reply.chunks:
        start_response(reply.status, headers)
        return []
    if accepts_gzip(environ):
        body = gzip_parts([(chunk, deflated(i)) for i, chunk in enumerate(reply.chunks)])
        headers.append(("Content-Encoding", "gzip"))
    else:
        body = reply.body
    headers.append(("Content-Length", str(len(body))))
    start_response(reply.status, headers)
    return [body]


def deflate_block(data: bytes) -> bytes:
    """``data`` as raw deflate blocks ending byte-aligned after a full flush,
    which keeps no history: such blocks may stand anywhere in a deflate
    stream (RFC 1951), so a large part compressed once can be reused."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


def gzip_parts(parts: list[tuple[bytes, bytes | None]]) -> bytes:
    """One gzip member (RFC 1952) of the plain parts in order; a part given
    with its :func:`deflate_block` is not compressed again."""
    out = [GZIP_HEADER]
    crc = size = 0
    for plain, block in parts:
        out.append(deflate_block(plain) if block is None else block)
        crc = zlib.crc32(plain, crc)
        size += len(plain)
    # An empty final block ends the deflate stream.
    out.append(zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS).flush(zlib.Z_FINISH))
    out.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return b"".join(out)


def dav_prefix(document: bytes) -> bytes | None:
    """The prefix (``b""`` for the default namespace) under which Radicale's
    multistatus ``document`` writes DAV: elements; None when it does not
    look the way a fast answer can extend."""
    close = CLOSE_RE.search(document)
    if close is None:
        return None
    prefix = close.group(1) or b""
    declaration = b'xmlns:%s="DAV:"' % prefix if prefix else b'xmlns="DAV:"'
    head = document[: document.find(b">", document.find(b"multistatus")) + 1]
    return prefix if declaration in head else None


def only_response_is(document: bytes, prefix: bytes, href: str) -> bool:
    """Whether ``document`` holds exactly one response, and it is ``href``'s."""
    p = prefix + b":" if prefix else b""
    return document.count(b"<%sresponse>" % p) == 1 and b"<%shref>%s</%shref>" % (p, href.encode(), p) in document


def escape(text: str) -> str:
    """Character data escaped as ElementTree escapes it."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def extra_headers(configuration: Any) -> list[tuple[str, str]]:
    """The ``[headers]`` Radicale adds to every answer."""
    return [(key, configuration.get("headers", key)) for key in configuration.options("headers")]


def join(parts: Iterable[str]) -> bytes:
    return "".join(parts).encode()
