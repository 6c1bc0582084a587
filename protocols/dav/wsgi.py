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
  is random per calendar, made when its owner turns the feed on in the
  panel (``appliance.services.feeds``); anything else, a feed turned off
  or an old token after a renewal, is a plain 404.
* Bounds what one request may cost: the shape of its XML (``xmlshape``),
  the dates it asks for (``bounds``) and the recurrence work it does
  (``budget``), which ends when the client goes or the service stops. The
  refusals are answered here, in one place: 400 for a body past the XML
  bounds, 403 or 507 with the CalDAV precondition for recurrences.
"""

from __future__ import annotations

import io
import logging
import re
import threading
import time
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any, Callable, Iterable
from urllib.parse import unquote_to_bytes, urlsplit

from storage.names import SLUG_RE
from storage import dav

from . import bounds, listing, multiget, sync, xmlshape
from .app import SCRIPT_NAME
from .budget import MAX_INSTANCES, TOO_MANY_MATCHES, Budget, Cancelled, Refusal, bounded
from .backend import DavBackend
from .storage import Collection, Moving

if TYPE_CHECKING:
    from appliance.app import App

log = logging.getLogger(__name__)

FEED_RE = re.compile(r"^/_feed/([a-z0-9-]{1,63})/([A-Za-z0-9_-]{16,64})\.ics$")

StartResponse = Callable[..., Any]
#: Methods whose bodies are XML.
XML_METHODS = frozenset({"PROPFIND", "PROPPATCH", "REPORT", "MKCALENDAR", "MKCOL", "LOCK"})
#: Methods that store calendar objects: recurrence work past the budget
#: there means the object has too many instances (RFC 4791 5.3.2.1).
STORE_METHODS = frozenset({"PUT", "MOVE", "COPY", "MKCALENDAR", "MKCOL"})
#: The environ key of the event set when the client disconnects (set by
#: ``protocols.dav.DavResource``).
CLIENT_GONE = "appliance.client_gone"
NAMESPACES = {"DAV:": "D", "urn:ietf:params:xml:ns:caldav": "C"}
#: Seconds a client is told to wait when its business is moving to another
#: box (RFC 9110 section 10.2.3): about how long the final copy takes.
MOVING_RETRY_SECONDS = 30


def _plain(start_response: StartResponse, status: str, text: str, extra: list | None = None) -> list[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *(extra or [])])
    return [body]


class DavWsgi:
    """The WSGI application mounted at ``/dav/``."""

    def __init__(self, radicale_app: App, backend: DavBackend, max_request_bytes: int):
        self.radicale = radicale_app
        self.backend = backend
        self.max_request_bytes = max_request_bytes
        self.listings = listing.Listings()
        settings = backend.app.settings.dav
        self.report_instances = settings.report_instances
        # A PUT walks an object's instances a few times (its time range,
        # our max-instances check): an allowed object must fit.
        self.store_instances = settings.report_instances + 3 * settings.max_instances
        self.report_seconds = settings.report_seconds
        #: Set when the service stops: every request's recurrence work ends.
        self.stopping = threading.Event()
        #: One heavy recurrence walk at a time (see ``budget.Budget``).
        self.heavy = threading.Semaphore(1)

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        start_response = _timed(environ, start_response, self.backend.app.metrics)
        instances = self.store_instances if environ.get("REQUEST_METHOD") in STORE_METHODS else self.report_instances
        budget = Budget(
            instances, self.report_seconds, gone=environ.get(CLIENT_GONE), stopping=self.stopping, heavy=self.heavy,
        )
        try:
            with bounded(budget):
                return self.serve(environ, start_response)
        except Refusal as refusal:
            return self.refuse(environ, start_response, refusal)
        except Cancelled as exc:
            log.info(
                "%s: %s %r abandoned: %s", environ.get("REMOTE_ADDR", "-"),
                environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), exc,
            )
            return _plain(start_response, "503 Service Unavailable", "request abandoned\n")
        except Moving as exc:
            log.info("%s: %s %r refused 503: %s", environ.get("REMOTE_ADDR", "-"),
                     environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), exc)
            return _plain(start_response, "503 Service Unavailable", f"{exc}\n",
                          [("Retry-After", str(MOVING_RETRY_SECONDS))])
        finally:
            budget.release()

    def refuse(self, environ: dict, start_response: StartResponse, refusal: Refusal) -> list[bytes]:
        """The one answer to a :class:`Refusal`: its status and a DAV:error
        body naming the precondition (RFC 4918 section 16), logged at INFO."""
        method = environ.get("REQUEST_METHOD", "")
        status, precondition = refusal.status, refusal.precondition
        if method in STORE_METHODS and precondition == TOO_MANY_MATCHES:
            status, precondition = 403, MAX_INSTANCES
        log.info(
            "%s: %s %r refused %d (%s): %s", environ.get("REMOTE_ADDR", "-"), method,
            environ.get("PATH_INFO"), status, precondition, refusal.reason,
        )
        namespace, _, name = precondition[1:].partition("}")
        prefix = NAMESPACES[namespace]
        body = (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<D:error xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:A="urn:x-appliance:dav">'
            f"<{prefix}:{name}/><A:message>{_escape(refusal.reason)}</A:message></D:error>\n"
        ).encode()
        reason = "Forbidden" if status == 403 else "Insufficient Storage"
        start_response(
            f"{status} {reason}",
            [("Content-Type", "application/xml; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def serve(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
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
        if environ.get("REQUEST_METHOD") == "PUT" and length:
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            if body.lstrip()[:15].upper() == b"BEGIN:VCALENDAR":
                bounds.check_body(body, self.backend.max_instances)
            return self.radicale(environ, start_response)
        if environ.get("REQUEST_METHOD") in XML_METHODS and length:
            body = environ["wsgi.input"].read(length)
            # Document type declarations have no use in WebDAV and are how
            # entity expansion bombs and external entities arrive (RFC 4918
            # section 20.6): refuse them before any parser sees them.
            upper = body.upper()
            if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
                return _plain(start_response, "400 Bad Request", "document type declarations are not accepted\n")
            problem = xmlshape.problem(body)
            if problem is not None:
                log.info(
                    "%s: %s %r refused 400: %s", environ.get("REMOTE_ADDR", "-"),
                    environ["REQUEST_METHOD"], environ["PATH_INFO"], problem,
                )
                return _plain(start_response, "400 Bad Request", problem + "\n")
            if environ["REQUEST_METHOD"] == "REPORT":
                _check_dates(body)
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


def _timed(environ: dict, start_response: StartResponse, metrics: Any) -> StartResponse:
    """``start_response`` that also counts the request by method and
    status, with the time taken until its status was known."""
    started = time.monotonic()

    def counted(status: str, headers: list, *exc_info: Any) -> Any:
        metrics.dav_request(environ.get("REQUEST_METHOD", ""), status, time.monotonic() - started)
        return start_response(status, headers, *exc_info)

    return counted


def _check_dates(body: bytes) -> None:
    """Raise :class:`Refusal` for a REPORT asking times out of bounds; a
    body that does not parse is left to Radicale (400)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return
    bounds.check_report(root)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
