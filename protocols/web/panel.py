"""The control panel on twisted.web: a thin adapter over
:class:`appliance.panel.core.Panel`.

:class:`PanelResource` answers every path of the box host name that no
other service claims (``/dav/`` and ``/.well-known/`` keep theirs): it
reads the request (a form body of at most 64 KiB, or a multipart one of at
most 2 MiB where a route takes a file; a query string of at most 2 KiB), hands it to the panel
on the event loop and writes the answer. Plain HTTP is redirected to HTTPS,
always, except from loopback when ``[panel] plain_http_loopback`` is on
(the demo; the pages then say so). DAV clients that start at ``/`` of the
box (PROPFIND, OPTIONS, REPORT) are sent to ``/dav/`` as before.

:class:`AdminRedirect` is ``/admin`` on a business's domains: a redirect to
the panel on the box host name.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import ipaddress
import logging
import urllib.parse
from typing import Any, Callable

from twisted.web import resource, server

from appliance.panel.core import MAX_FORM_BYTES, MAX_FORM_FIELDS, MAX_QUERY_BYTES, Panel, Request, max_body

from . import clients, pages

log = logging.getLogger(__name__)

DAV_METHODS = (b"PROPFIND", b"OPTIONS", b"REPORT")
FORM_TYPE = "application/x-www-form-urlencoded"
MULTIPART_TYPE = "multipart/form-data"


def panel_url(app: Any) -> str:
    """``https://<box host name>[:port]/``: where the panel is."""
    port = clients.public_ports(app)["https"]
    host = app.settings.box.hostname
    return f"https://{host}/" if port == 443 else f"https://{host}:{port}/"


def _loopback(peer: str) -> bool:
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


class PanelResource(resource.Resource):
    """Every panel page (see module doc)."""

    isLeaf = True

    def __init__(self, app: Any, site_published: Callable[[str], None] | None = None):
        super().__init__()
        self.app = app
        self.panel = Panel(app, site_published)
        self.plain_loopback = app.settings.panel.plain_http_loopback

    def render(self, request: server.Request) -> Any:
        if request.path == b"/" and request.method in DAV_METHODS:
            request.setResponseCode(301)
            request.setHeader(b"location", b"/dav/")
            return b""
        peer = request.getClientAddress().host
        if not request.isSecure() and not (self.plain_loopback and _loopback(peer)):
            return self._to_https(request)
        length = request.getHeader(b"content-length")
        limit = max_body(request.path.decode("latin-1"))
        if length is not None and (not length.isdigit() or int(length) > limit):
            return pages.fixed(request, 413, b"")
        parsed = self._parse(request, peer)
        if parsed is None:
            return pages.fixed(request, 400, pages.BAD_REQUEST)
        future = asyncio.ensure_future(self.panel.handle(parsed))
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))

        def done(fut: asyncio.Future) -> None:
            if gone:
                return
            answer = fut.result()  # Panel.handle never raises
            request.setResponseCode(answer.status)
            request.setHeader(b"content-type", answer.content_type.encode("ascii"))
            for name, value in answer.headers:
                request.responseHeaders.addRawHeader(name.encode("ascii"), value.encode("utf-8"))
            request.setHeader(b"content-length", b"%d" % len(answer.body))
            if request.method != b"HEAD" and answer.body:
                request.write(answer.body)
            request.finish()

        future.add_done_callback(done)
        return server.NOT_DONE_YET

    def _to_https(self, request: server.Request) -> bytes:
        if not request.uri.startswith(b"/"):
            return pages.fixed(request, 400, pages.BAD_REQUEST)
        request.setResponseCode(301)
        request.setHeader(b"location", panel_url(self.app).rstrip("/").encode("ascii") + request.uri)
        return b""

    @staticmethod
    def _parse(request: server.Request, peer: str) -> Request | None:
        """The panel's view of ``request``; None when it is malformed."""
        try:
            path = urllib.parse.unquote(request.path.decode("ascii"), errors="strict")
            headers = {k.decode("latin-1").lower(): v[0].decode("latin-1") for k, v in request.requestHeaders.getAllRawHeaders()}
            cookies = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.received_cookies.items()}
            form: dict[str, list[str]] = {}
            content_type = headers.get("content-type", "")
            kind = content_type.split(";")[0].strip().lower()
            limit = max_body(path)
            if request.method == b"POST" and kind in (FORM_TYPE, MULTIPART_TYPE):
                body = request.content.read(limit + 1)
                if len(body) > limit:
                    return None
                if kind == FORM_TYPE:
                    form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True,
                                                 max_num_fields=MAX_FORM_FIELDS, strict_parsing=False)
                elif limit > MAX_FORM_BYTES:
                    form = _multipart(content_type, body)
            query: dict[str, list[str]] = {}
            raw_query = request.uri.partition(b"?")[2]
            if request.method in (b"GET", b"HEAD") and 0 < len(raw_query) <= MAX_QUERY_BYTES:
                query = urllib.parse.parse_qs(raw_query.decode("ascii"), keep_blank_values=True,
                                              max_num_fields=MAX_FORM_FIELDS, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            return None
        return Request(request.method.decode("ascii", "replace"), path, headers, cookies, form, peer,
                       request.isSecure(), headers.get("host", ""), query)


def _multipart(content_type: str, body: bytes) -> dict[str, list[str]]:
    """The fields of a ``multipart/form-data`` body (RFC 7578), a file's
    content as text: UTF-8 (a byte order mark dropped), else Windows-1252,
    which Outlook writes its CSV exports in. ValueError when malformed."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise ValueError("not multipart")
    form: dict[str, list[str]] = {}
    for count, part in enumerate(message.iter_parts()):
        if count >= MAX_FORM_FIELDS:
            raise ValueError("too many fields")
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        data = part.get_payload(decode=True) or b""
        try:
            text = data.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
        form.setdefault(str(name), []).append(text)
    return form


class AdminRedirect(resource.Resource):
    """``https://<business domain>/admin``: to the panel on the box host name."""

    isLeaf = True

    def __init__(self, app: Any):
        super().__init__()
        self.app = app

    def render(self, request: server.Request) -> bytes:
        request.setResponseCode(302)
        request.setHeader(b"location", panel_url(self.app).encode("ascii"))
        return b""
