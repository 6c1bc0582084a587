"""The WSGI side: what runs in the pool threads before Radicale.

* Fixes ``SCRIPT_NAME``/``PATH_INFO`` from the request URI, so Radicale's
  hrefs start with ``/dav`` however the web service mounted us.
* Refuses bodies larger than ``[dav] max_request_bytes`` with 413 before
  anything reads them.
* Answers the listing PROPFIND and the multiget and sync-collection REPORTs
  clients sync with without Radicale's per-item work (``listing``,
  ``multiget``, ``sync``), Radicale still deciding who may see what.
* Serves the read-only ICS feeds, ``/dav/_feed/<slug>/<token>.ics``: for
  clients that can only subscribe to a URL (new Outlook, phones). The token
  is random per calendar (``storage.dav``); anything else is a plain 404.
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any, Callable, Iterable
from urllib.parse import unquote_to_bytes, urlsplit

from appliance.names import SLUG_RE
from storage import dav

from . import listing, multiget, sync
from .app import SCRIPT_NAME
from .backend import DavBackend
from .storage import Collection

log = logging.getLogger(__name__)

FEED_RE = re.compile(r"^/_feed/([a-z0-9-]{1,63})/([A-Za-z0-9_-]{16,64})\.ics$")

StartResponse = Callable[..., Any]
#: Methods whose bodies are XML.
XML_METHODS = frozenset({"PROPFIND", "PROPPATCH", "REPORT", "MKCALENDAR", "MKCOL", "LOCK"})


def _plain(start_response: StartResponse, status: str, text: str, extra: list | None = None) -> list[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *(extra or [])])
    return [body]


class DavWsgi:
    """The WSGI application mounted at ``/dav/``."""

    def __init__(self, radicale_app: Any, backend: DavBackend, max_request_bytes: int):
        self.radicale = radicale_app
        self.backend = backend
        self.max_request_bytes = max_request_bytes
        self.listings = listing.Listings()

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        raw = environ.get("REQUEST_URI") or (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))
        # PEP 3333: PATH_INFO is the URL-decoded path, as latin-1 text.
        path = unquote_to_bytes(urlsplit(raw).path).decode("latin-1")
        if path != SCRIPT_NAME and not path.startswith(SCRIPT_NAME + "/"):
            return _plain(start_response, "404 Not Found", "not found\n")
        environ["SCRIPT_NAME"] = SCRIPT_NAME
        environ["PATH_INFO"] = path[len(SCRIPT_NAME):]
        # Headers from a proxy that we are not behind must not move hrefs.
        for header in ("HTTP_X_SCRIPT_NAME", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_SERVER"):
            environ.pop(header, None)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _plain(start_response, "400 Bad Request", "bad Content-Length\n")
        if length > self.max_request_bytes or length < 0:
            return _plain(start_response, "413 Request Entity Too Large", "request body too large\n")
        if environ["PATH_INFO"].startswith("/_feed/"):
            return self.feed(environ, start_response)
        if environ.get("REQUEST_METHOD") in XML_METHODS and length:
            body = environ["wsgi.input"].read(length)
            # Document type declarations have no use in WebDAV and are how
            # entity expansion bombs and external entities arrive (RFC 4918
            # section 20.6): refuse them before any parser sees them.
            upper = body.upper()
            if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
                return _plain(start_response, "400 Bad Request", "document type declarations are not accepted\n")
            environ["wsgi.input"] = io.BytesIO(body)
            return self.xml_request(environ, start_response, body)
        return self.radicale(environ, start_response)

    def xml_request(self, environ: dict, start_response: StartResponse, body: bytes) -> Iterable[bytes]:
        """The requests clients repeat most take a fast path that answers
        what Radicale would; everything else goes to Radicale."""
        method = environ["REQUEST_METHOD"]
        try:
            if method == "PROPFIND" and environ.get("HTTP_DEPTH") == "1":
                props = listing.wanted_props(body)
                if props is not None:
                    return listing.respond(
                        self.radicale, self.backend, self.listings, environ, start_response, body, props
                    )
            elif method == "REPORT":
                request = multiget.parse_request(body)
                if request is not None:
                    return multiget.respond(self.radicale, self.backend, environ, start_response, request)
                changes = sync.parse_request(body)
                if changes is not None:
                    return sync.respond(self.radicale, self.backend, environ, start_response, changes)
        except Exception:
            # The fast paths answer only at their end, so Radicale can still
            # answer (or fail) as it would have.
            log.exception(
                "%s: %s %r failed on the fast path, Radicale answers",
                environ.get("REMOTE_ADDR", "-"), method, environ.get("PATH_INFO"),
            )
            environ["wsgi.input"] = io.BytesIO(body)
        return self.radicale(environ, start_response)

    def feed(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _plain(start_response, "405 Method Not Allowed", "read only\n", [("Allow", "GET, HEAD")])
        match = FEED_RE.match(environ["PATH_INFO"])
        if not match or not SLUG_RE.match(match.group(1)):
            return _plain(start_response, "404 Not Found", "not found\n")
        slug, token = match.groups()
        owner = self.backend.owner(slug)
        if owner is None:
            return _plain(start_response, "404 Not Found", "not found\n")
        row = owner.handle.read_sync("dav feed", lambda c: dav.collection_by_feed_token(c, token))
        if row is None or row.tag != "VCALENDAR":
            return _plain(start_response, "404 Not Found", "not found\n")
        collection = Collection(self.radicale._storage, owner, row)
        body = collection.serialize().encode()
        etag = collection.etag
        if environ.get("HTTP_IF_NONE_MATCH") == etag:
            start_response("304 Not Modified", [("ETag", etag)])
            return []
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/calendar; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("ETag", etag),
                ("Cache-Control", "private, max-age=300"),
            ],
        )
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]
