"""The lean path: website files already in memory, answered by the
connection itself, beneath twisted.web.

Most requests a website gets are GET or HEAD for a file the
:class:`.site.FileCache` holds. Through twisted.web each costs a Request
object, header objects, resource traversal, a `getsockname`, and a write
that waits for the next turn of the loop (two epoll changes, then the
send). :class:`LeanSites` answers those requests from
:meth:`.channel.Channel.dataReceived` instead: it reads the complete
requests at the front of what arrived and, while each is one it can
answer, writes the same bytes twisted.web would (status line, Server, Date,
the security headers, HSTS over HTTPS, the file's headers: ETag, 304,
Range, gzip; :func:`.site.file_reply` builds them for both paths) in one
send. The first request it cannot answer, and everything after it, goes to
twisted.web unchanged, so every rule there (framing, limits, clocks,
routing, the panel, DAV, ACME, client set-up, misses read from SQLite)
still holds; the lean path only ever answers a request twisted.web would
have answered with the very same bytes.

A request is answered here only when all of this holds, else it is
twisted.web's: twisted.web is idle on the connection (nothing buffered, no
request in flight); the request line and headers are complete, at most
:data:`MAX_HEAD` bytes, ``GET`` or ``HEAD`` with an origin-form target and
``HTTP/1.1``; no field is repeated, folded or malformed, none announces a
body (Content-Length, Transfer-Encoding), Expect, Upgrade or Connection
other than keep-alive; the host is a business's website (or its
``www.``) that is active and not redirected to HTTPS, the first path
segment is not one a service claims (mounts, ``.well-known``, ``admin``,
``autodiscover``, the contact form) or percent-encoded; the access log is
off; and the file is a cache hit (:meth:`.site.SiteServer.hit`).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from twisted.internet import tcp
from twisted.web import http, server
from twisted.web.http_headers import Headers

from . import contact
from .pages import SECURITY_HEADERS
from .site import file_reply

if TYPE_CHECKING:
    from . import Hosts

#: Longest request head (request line and fields) answered here.
MAX_HEAD = 8192
#: Most header fields in a request answered here (twisted.web allows 500).
MAX_FIELDS = 100
#: Request heads remembered with their answer (all forgotten at once past
#: this), and the longest remembered: clients repeat the same head for a file.
MAX_MEMO = 1024
MAX_MEMO_HEAD = 2048
#: First path segments (lowercased) that belong to a service, never to a file.
CLAIMED = frozenset({b".well-known", b"admin", b"autodiscover", contact.PATH})

#: RFC 9110 section 5.6.2: what twisted.web accepts as a field name.
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: What twisted.web accepts as a request target (printable ASCII).
_TARGET = re.compile(rb"/[\x21-\x7e]*")
#: The host name in a Host field, as twisted.web's getRequestHostname reads it.
_HOST = re.compile(rb"(.*?)(?::\d+)?$")



def _canonical(name: bytes) -> bytes:
    """``name`` spelt as twisted.web sends it (``etag`` -> ``ETag``)."""
    return next(iter(Headers({name: [b""]}).getAllRawHeaders()))[0]


#: The fields a file's answer may have (site.file_reply), spelt as sent.
_HEADER_NAMES = {name: _canonical(name) for name in (
    b"content-type", b"etag", b"last-modified", b"cache-control", b"accept-ranges", b"vary",
    b"content-range", b"content-encoding", b"content-length",
)}
_STATUS = {code: b"HTTP/1.1 %d %s\r\n" % (code, http.RESPONSES[code]) for code in (200, 206, 304, 404, 416)}


class LeanSites:
    """Answers cached website GET/HEAD requests on a :class:`.channel.Channel`
    (see module doc)."""

    def __init__(self, hosts: Hosts, requests: Any = None):
        self.hosts = hosts
        self.sites = hosts.sites
        self.catalog = hosts.catalog
        self.usage = hosts.app.usage_meter
        #: The metrics' counter of requests by status, and its children.
        self.requests = requests
        self._counters: dict[int, Any] = {}
        self._common = b"Server: " + server.version + b"\r\n"
        self._security = b"".join(_canonical(name) + b": " + value + b"\r\n" for name, value in SECURITY_HEADERS)
        self._hsts = b"Strict-Transport-Security: " + hosts.hsts + b"\r\n" if hosts.hsts is not None else b""
        self._second = -1
        #: Request heads already answered, by scheme (see _answer).
        self._memo: tuple[dict[bytes, tuple], dict[bytes, tuple]] = ({}, {})
        self._date = b""

    def serve(self, channel: Any, data: bytes, secure: bool) -> bytes:
        """Answer the requests at the front of ``data`` that this path can;
        return the rest (from the first request it cannot answer) for
        twisted.web, ``b""`` when everything was answered."""
        transport = channel.transport
        while data:
            end = data.find(b"\r\n\r\n", 0, MAX_HEAD)
            if end < 0:
                return data
            reply = self._answer(data[:end], secure)
            if reply is None:
                return data
            data = data[end + 4:]
            if not _send(transport, reply[0], reply[1]):
                # Buffered: twisted.web, which waits for the transport, has the rest.
                return data
        return data

    def _answer(self, head: bytes, secure: bool) -> tuple[bytes, bytes] | None:
        memo = self._memo[secure]
        known = memo.get(head)
        if known is not None:
            snapshot, name, slug, path, answer, status, before, after, body = known
            # The route is the catalog snapshot's (replaced whole on change).
            if (self.catalog.snapshot is snapshot and (secure or not self.hosts.to_https_for(name))
                    and self.sites.hit(slug, path) is answer):
                self._count(status, slug, body)
                return before + self._date_line() + after, body
            del memo[head]
        lines = head.split(b"\r\n")
        request_line = lines[0].split(b" ")
        if len(request_line) != 3 or len(lines) > MAX_FIELDS + 1:
            return None
        method, target, version = request_line
        if (method != b"GET" and method != b"HEAD") or version != b"HTTP/1.1" or not _TARGET.fullmatch(target):
            return None
        fields: dict[bytes, list[bytes]] = {}
        for line in lines[1:]:
            field, colon, value = line.partition(b":")
            if not colon or not _TOKEN.fullmatch(field) or b"\x00" in value or b"\n" in value or b"\r" in value:
                return None
            field = field.lower()
            if field in fields:
                return None
            fields[field] = [value.strip(b" \t")]
        host = fields.get(b"host")
        if host is None or b"content-length" in fields or b"transfer-encoding" in fields or b"expect" in fields \
                or b"upgrade" in fields:
            return None
        connection = fields.get(b"connection")
        if connection is not None and connection[0].lower() != b"keep-alive":
            return None
        if b"[" in host[0]:
            return None
        hosts = self.hosts
        snapshot = self.catalog.snapshot
        name = _HOST.match(host[0])[1].decode("ascii", "replace").lower().rstrip(".")
        route = hosts.route(name)
        if route is None or route.kind != "site" or not route.active:
            return None
        path = target.partition(b"?")[0]
        segment = path[1:].partition(b"/")[0]
        if b"%" in segment or segment.lower() in CLAIMED or segment in hosts.mounts:
            return None
        if not secure and hosts.to_https_for(name):
            return None
        answer = self.sites.hit(route.slug, path)
        if answer is None:
            return None
        status, headers, body = file_reply(answer.prepared, 200, method, fields.get)
        out = [self._security]
        if secure:
            out.append(self._hsts)
        for field, value in headers:
            out += (_HEADER_NAMES[field], b": ", value, b"\r\n")
        out.append(b"\r\n")
        before, after = _STATUS[status] + self._common, b"".join(out)
        if len(head) <= MAX_MEMO_HEAD:
            # The answer depends only on these bytes, the route, the
            # redirect and the cached file, which are checked again on use.
            if len(memo) >= MAX_MEMO:
                memo.clear()
            memo[head] = (snapshot, name, route.slug, path, answer, status, before, after, body)
        self._count(status, route.slug, body)
        return before + self._date_line() + after, body

    def _date_line(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._date = b"Date: " + http.datetimeToString(now) + b"\r\n"
        return self._date

    def _count(self, status: int, slug: str, body: bytes) -> None:
        if status != 304:
            # As SiteServer.render counts (a 304 is not a file sent).
            self.usage.web_request(slug, len(body))
        if self.requests is None:
            return
        counter = self._counters.get(status)
        if counter is None:
            counter = self._counters[status] = self.requests.labels(status=str(status))
        counter.inc()


def _send(transport: Any, head: bytes, body: bytes) -> bool:
    """Write ``head`` and ``body``; True if they left at once.

    On a plain TCP connection with nothing waiting in its buffer they are
    sent now, in one system call (a write through the transport waits for
    the next turn of the loop and costs two epoll changes); whatever the
    socket does not take goes through the transport, in order."""
    raw = getattr(transport, "transport", None)  # the listener's guard wraps the TCP transport
    if not isinstance(raw, tcp.Connection) or raw.dataBuffer or raw._tempDataBuffer or raw.disconnecting \
            or not raw.connected:
        transport.write(head + body if body else head)
        return False
    try:
        sent = raw.socket.sendmsg((head, body) if body else (head,))
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:
        # The transport finds and reports the error on its own write.
        transport.write(head + body)
        return False
    total = len(head) + len(body)
    if sent == total:
        return True
    rest = (head + body)[sent:] if sent < len(head) else body[sent - len(head):]
    transport.write(rest)
    return False
