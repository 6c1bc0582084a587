"""Serving a business's published website from its file.

:class:`SiteServer` answers a request for one business: it turns the raw path
into a site path (:func:`.paths.site_path`), finds what it leads to, and
writes the answer with Content-Type, ETag, Last-Modified, conditional
requests (304), a single byte Range (206/416), the gzip variant when the
client takes it, ``index.html`` for directories and the site's own
``404.html``.

Hot answers come from memory: :class:`FileCache` keeps resolved files per
business and path within a byte bound (LRU). A business's published version
is trusted for ``[web] recheck_ms``; within that time a cached answer is
written without touching SQLite or a thread. Past it, the next request for
that business reads the version and the file in one snapshot of the read
pool (off the loop), and a new version drops every cached file of that
business. Publishing from the CLI (another process) is therefore visible
within ``recheck_ms``; :meth:`SiteServer.forget` makes it immediate for
publishing done inside the daemon.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.web import server

from storage import sites
from storage.sites import Resolution, SiteFile

from . import pages
from .paths import BadPath, Unsatisfiable, accepts_gzip, byte_range, etag_matches, http_date, parse_http_date, site_path

if TYPE_CHECKING:
    from appliance.app import App

log = logging.getLogger(__name__)

#: Bytes a cache entry costs besides its bodies (keys, objects).
ENTRY_OVERHEAD = 512
#: Decoded request paths remembered (all forgotten at once past this), and
#: the longest raw path remembered.
MAX_PATHS = 4096
MAX_MEMO_PATH = 256


@dataclass(frozen=True)
class Prepared:
    """A file with its header values computed once (cached as is)."""

    file: SiteFile
    ctype: bytes
    etag: bytes
    gz_etag: bytes
    modified: bytes
    length: bytes
    gz_length: bytes
    cost: int

    @classmethod
    def of(cls, f: SiteFile) -> "Prepared":
        gz_etag = f.etag[:-1] + '-gz"'
        cost = ENTRY_OVERHEAD + f.size + (len(f.gzip) if f.gzip is not None else 0)
        return cls(
            f, f.content_type.encode("ascii"), f.etag.encode("ascii"), gz_etag.encode("ascii"),
            http_date(f.modified), b"%d" % f.size, b"%d" % len(f.gzip) if f.gzip is not None else b"", cost,
        )


@dataclass(frozen=True)
class Answer:
    """A resolution of one path at one version, ready to write."""

    version: int
    kind: str
    prepared: Prepared | None = None
    location: str | None = None


class FileCache:
    """Answers by (business, path), least recently used dropped first once
    their bodies exceed ``max_bytes``; answers over ``max_entry`` bytes are
    never kept."""

    def __init__(self, max_bytes: int, max_entry: int):
        self.max_bytes = max_bytes
        self.max_entry = max_entry
        self.bytes = 0
        self._entries: collections.OrderedDict[tuple[str, str], tuple[Answer, int]] = collections.OrderedDict()
        self._by_slug: dict[str, set[str]] = {}
        self.hits = 0
        self.misses = 0

    def get(self, slug: str, path: str, version: int) -> Answer | None:
        item = self._entries.get((slug, path))
        if item is None or item[0].version != version:
            self.misses += 1
            return None
        self._entries.move_to_end((slug, path))
        self.hits += 1
        return item[0]

    def put(self, slug: str, path: str, answer: Answer) -> None:
        cost = answer.prepared.cost if answer.prepared is not None else ENTRY_OVERHEAD
        if cost > self.max_entry or cost > self.max_bytes:
            return
        self._remove((slug, path))
        self._entries[(slug, path)] = (answer, cost)
        self._by_slug.setdefault(slug, set()).add(path)
        self.bytes += cost
        while self.bytes > self.max_bytes and self._entries:
            self._remove(next(iter(self._entries)))

    def _remove(self, key: tuple[str, str]) -> None:
        item = self._entries.pop(key, None)
        if item is None:
            return
        self.bytes -= item[1]
        paths = self._by_slug.get(key[0])
        if paths is not None:
            paths.discard(key[1])
            if not paths:
                del self._by_slug[key[0]]

    def drop(self, slug: str) -> None:
        """Forget every answer of ``slug``."""
        for path in list(self._by_slug.get(slug, ())):
            self._remove((slug, path))


#: (status, header fields in the order sent, body) of a file's answer.
Reply = tuple[int, list[tuple[bytes, bytes]], bytes]


def file_reply(p: Prepared, code: int, method: bytes, get: Any) -> Reply:
    """The answer to ``method`` (GET or HEAD) for the file ``p`` found with
    ``code`` (200, or 404 for the site's own 404 page): 200, 304 (If-None-Match
    by weak comparison, else If-Modified-Since), 206 or 416 for one byte
    Range (If-Range honoured), the gzip variant when Accept-Encoding takes
    it. ``get(name)`` gives a request header's values (a list) or None. The
    headers are the file's own, in the order sent (none of Content-Type on
    416 and 304, no Content-Length on 304); HEAD gets an empty body and the
    length GET would get."""
    f = p.file
    headers = [(b"content-type", p.ctype)]
    if code == 200:
        headers += [(b"etag", p.etag), (b"last-modified", p.modified), (b"cache-control", b"no-cache"),
                    (b"accept-ranges", b"bytes")]
    if f.gzip is not None:
        headers.append((b"vary", b"Accept-Encoding"))
    if code == 200:
        inm = get(b"if-none-match")
        if inm is not None:
            if etag_matches(b",".join(inm), (p.etag, p.gz_etag)):
                return 304, headers[1:], b""
        else:
            ims = get(b"if-modified-since")
            if ims is not None:
                since = parse_http_date(ims[0])
                if since is not None and f.modified <= since:
                    return 304, headers[1:], b""
        rng = get(b"range")
        if rng is not None and method == b"GET" and _if_range(get(b"if-range"), p):
            try:
                span = byte_range(rng[0], f.size)
            except Unsatisfiable:
                return 416, headers[1:] + [(b"content-range", b"bytes */%d" % f.size), (b"content-length", b"0")], b""
            if span is not None:
                first, last = span
                body = f.body[first:last + 1]
                headers += [(b"content-range", b"bytes %d-%d/%d" % (first, last, f.size)),
                            (b"content-length", b"%d" % len(body))]
                return 206, headers, body
    encoding = get(b"accept-encoding")
    if f.gzip is not None and accepts_gzip(encoding[-1] if encoding else None):
        if code == 200:
            headers[1] = (b"etag", p.gz_etag)
        headers += [(b"content-encoding", b"gzip"), (b"content-length", p.gz_length)]
        return code, headers, b"" if method == b"HEAD" else f.gzip
    headers.append((b"content-length", p.length))
    return code, headers, b"" if method == b"HEAD" else f.body


def _if_range(values: list[bytes] | None, p: Prepared) -> bool:
    """RFC 9110 section 13.1.5: honour Range only if If-Range still matches."""
    if values is None:
        return True
    value = values[-1].strip()
    if value.startswith(b'"'):
        return value == p.etag  # strong comparison
    since = parse_http_date(value)
    return since is not None and p.file.modified <= since


def _lookup(path: str):
    def read(conn: Any) -> Resolution:
        return sites.resolve(conn, path)

    return read


class SiteServer:
    """Serves every business's site (see module doc). One per web service."""

    def __init__(self, app: App):
        self.app = app
        web = app.settings.web
        self.cache = FileCache(web.cache_mb * 1024 * 1024, web.cache_file_kb * 1024)
        self.recheck = web.recheck_ms / 1000.0
        #: slug -> (live version, monotonic time it was read)
        self._versions: dict[str, tuple[int, float]] = {}
        #: raw request path -> site path, for paths that passed site_path:
        #: decoding and checking is a good part of a cached answer's cost.
        self._paths: dict[bytes, str] = {}

    def forget(self, slug: str) -> None:
        """A new version of ``slug`` was published: read it on the next request."""
        self._versions.pop(slug, None)
        self.cache.drop(slug)

    def render(self, request: server.Request, slug: str) -> bytes | int:
        """Answer ``request`` for business ``slug``; bytes or NOT_DONE_YET.
        Every answer is counted for the business's usage records."""
        body = self._render(request, slug)
        if body is not server.NOT_DONE_YET:
            self._count(request, slug, body)
        return body

    def hit(self, slug: str, raw: bytes) -> Answer | None:
        """The cached answer for ``raw`` (a request path without its query)
        of ``slug`` if it is a file and its version is still trusted (see
        module doc); None when only :meth:`render` can answer (a miss, a
        path to check, a redirect, nothing published)."""
        path = self._paths.get(raw)
        if path is None:
            return None
        known = self._versions.get(slug)
        if known is None or known[0] == 0 or time.monotonic() - known[1] >= self.recheck:
            return None
        answer = self.cache.get(slug, path, known[0])
        return answer if answer is not None and answer.kind == "file" else None

    def _count(self, request: server.Request, slug: str, body: Any) -> None:
        # In memory only (appliance.usagemeter): no write per request.
        sent = len(body) if isinstance(body, bytes) and request.method != b"HEAD" else 0
        self.app.usage_meter.web_request(slug, sent)

    def _render(self, request: server.Request, slug: str) -> bytes | int:
        refused = pages.refuse_method(request)
        if refused is not None:
            return refused
        raw = request.path
        path = self._paths.get(raw)
        if path is None:
            try:
                path = site_path(raw)
            except BadPath as exc:
                log.info("%s: bad path %r: %s", request.getClientAddress(), raw[:200], exc)
                return pages.fixed(request, 400, pages.BAD_REQUEST)
            if len(raw) <= MAX_MEMO_PATH:
                if len(self._paths) >= MAX_PATHS:
                    self._paths.clear()
                self._paths[raw] = path
        known = self._versions.get(slug)
        if known is not None and time.monotonic() - known[1] < self.recheck:
            if known[0] == 0:
                return self.write(request, Answer(0, "empty"), path)
            answer = self.cache.get(slug, path, known[0])
            if answer is not None:
                return self.write(request, answer, path)
        self._resolve(request, slug, path)
        return server.NOT_DONE_YET

    def _resolve(self, request: server.Request, slug: str, path: str) -> None:
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))
        started = time.monotonic()
        future = asyncio.ensure_future(self.app.tenants.handle(slug).read("web file", _lookup(path)))

        def done(fut: asyncio.Future) -> None:
            if gone:
                return
            try:
                resolution: Resolution = fut.result()
            except Exception:  # noqa: BLE001 - one bad read answers 500, never kills the server
                log.exception("%s: cannot read %r", slug, path)
                body = pages.fixed(request, 500, b"<!DOCTYPE html><title>Error</title><h1>Error</h1>\n")
                self._count(request, slug, body)
                self._finish(request, body)
                return
            answer = self._remember(slug, path, resolution, started)
            try:
                body = self.write(request, answer, path)
            except Exception:  # noqa: BLE001
                log.exception("%s: cannot answer %r", slug, path)
                body = pages.fixed(request, 500, b"")
            if body is not server.NOT_DONE_YET:
                self._count(request, slug, body)
            self._finish(request, body)

        future.add_done_callback(done)

    def _remember(self, slug: str, path: str, resolution: Resolution, started: float) -> Answer:
        known = self._versions.get(slug)
        if known is None or known[0] != resolution.version:
            if known is not None:
                log.info("%s: site version %d is live", slug, resolution.version)
            self.cache.drop(slug)
        if known is None or known[1] < started:
            self._versions[slug] = (resolution.version, started)
        prepared = Prepared.of(resolution.file) if resolution.file is not None else None
        answer = Answer(resolution.version, resolution.kind, prepared, resolution.location)
        if answer.kind in ("file", "redirect"):
            self.cache.put(slug, path, answer)
        return answer

    @staticmethod
    def _finish(request: server.Request, body: Any) -> None:
        if body is server.NOT_DONE_YET:
            return
        if request.method != b"HEAD" and body:
            request.setHeader(b"content-length", b"%d" % len(body))
            request.write(body)
        elif request.method != b"HEAD":
            request.setHeader(b"content-length", b"0")
        request.finish()

    # -- writing an answer ---------------------------------------------------

    def write(self, request: server.Request, answer: Answer, path: str) -> Any:
        """Headers and body for ``answer`` to ``path`` (the body is returned,
        or NOT_DONE_YET when already written)."""
        if answer.kind == "empty":
            # Nothing published: a neutral placeholder at the root, and the
            # same 404 as anywhere else below it.
            if path == "":
                return pages.fixed(request, 200, pages.PLACEHOLDER)
            return pages.fixed(request, 404, pages.NOT_FOUND)
        if answer.kind == "redirect":
            # nginx's answer for a directory named without its slash.
            query = request.uri.partition(b"?")
            location = request.path + b"/" + (b"?" + query[2] if query[1] else b"")
            request.setResponseCode(301)
            request.setHeader(b"location", location)
            return pages.fixed(request, 301, b"")
        if answer.kind == "missing":
            if answer.prepared is None:
                return pages.fixed(request, 404, pages.NOT_FOUND)
            return self._file(request, answer.prepared, 404)
        return self._file(request, answer.prepared, 200)

    def _file(self, request: server.Request, p: Prepared, code: int) -> Any:
        status, headers, body = file_reply(p, code, request.method, request.requestHeaders.getRawHeaders)
        request.setResponseCode(status)
        set_raw = request.responseHeaders.setRawHeaders
        for name, value in headers:
            set_raw(name, [value])
        if status == 304:
            return self._not_modified(request)
        return body

    @staticmethod
    def _not_modified(request: server.Request) -> Any:
        # Written here rather than returned: Twisted would add
        # "Content-Length: 0", which a 304 must not claim (RFC 9110 8.6).
        request.setResponseCode(304)
        request.responseHeaders.removeHeader(b"content-type")
        request.write(b"")
        request.finish()
        return server.NOT_DONE_YET
