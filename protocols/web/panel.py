"""The control panel on twisted.web: a thin adapter over
:class:`appliance.panel.core.Panel`.

:class:`PanelResource` answers every path of the box host name that no
other service claims (``/dav/`` and ``/.well-known/`` keep theirs): it
reads the request (a form body of at most 64 KiB, or a
``multipart/form-data`` one within its route's upload limit
(``rights.UPLOADS``); a query string of at most 2 KiB), hands it to the panel
on the event loop and writes the answer. Plain HTTP is redirected to HTTPS,
always, except from loopback when ``[panel] plain_http_loopback`` is on
(the demo; the pages then say so). DAV clients that start at ``/`` of the
box (PROPFIND, OPTIONS, REPORT) are sent to ``/dav/`` as before.

:class:`AdminRedirect` is ``/admin`` on a business's domains: a redirect to
the panel on the box host name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import urllib.parse
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Callable

from twisted.web import resource, server

from appliance.panel.core import (MAX_FORM_BYTES, MAX_FORM_FIELDS, MAX_QUERY_BYTES, MAX_UPLOAD_FILES, Panel, Request,
                                  Upload, max_body)
from appliance.panel.rights import UPLOADS

from . import clients, pages

log = logging.getLogger(__name__)

DAV_METHODS = (b"PROPFIND", b"OPTIONS", b"REPORT")
FORM_TYPE = "application/x-www-form-urlencoded"
UPLOAD_TYPE = "multipart/form-data"


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, list[str]], dict[str, list[Upload]]]:
    """The fields and files of a ``multipart/form-data`` body (RFC 7578),
    already bounded in size by the caller; ValueError when it is malformed
    or has more than :data:`MAX_FORM_FIELDS` fields or
    :data:`MAX_UPLOAD_FILES` files."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart() or message.defects:
        raise ValueError("malformed multipart body")
    form: dict[str, list[str]] = {}
    files: dict[str, list[Upload]] = {}
    parts = message.get_payload()
    if len(parts) > MAX_FORM_FIELDS + MAX_UPLOAD_FILES:
        raise ValueError("too many parts")
    for part in parts:
        if part.get_content_disposition() != "form-data" or not part.get_param("name", header="content-disposition"):
            raise ValueError("a part without a field name")
        name = str(part.get_param("name", header="content-disposition"))
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is None:
            form.setdefault(name, []).append(data.decode("utf-8"))
        elif filename or data:  # an empty file input sends an empty part with filename=""
            files.setdefault(name, []).append(Upload(filename[:200], part.get_content_type(), data))
    if len(form) > MAX_FORM_FIELDS or sum(len(v) for v in files.values()) > MAX_UPLOAD_FILES:
        raise ValueError("too many fields or files")
    return form, files


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
        # A body over an upload form's limit that the channel did not read
        # (``Limits.explained``): the form's handler says so on its page.
        too_large = getattr(request, "body_over_limit", None) is not None
        length = request.getHeader(b"content-length")
        limit = max_body(request.path.decode("latin-1"))
        if not too_large and length is not None and (not length.isdigit() or int(length) > limit):
            return pages.fixed(request, 413, b"")
        parsed = self._parse(request, peer, too_large)
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
    def _parse(request: server.Request, peer: str, too_large: bool = False) -> Request | None:
        """The panel's view of ``request`` (``too_large``: without its body,
        which was not read); None when it is malformed."""
        try:
            path = urllib.parse.unquote(request.path.decode("ascii"), errors="strict")
            headers = {k.decode("latin-1").lower(): v[0].decode("latin-1") for k, v in request.requestHeaders.getAllRawHeaders()}
            cookies = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.received_cookies.items()}
            form: dict[str, list[str]] = {}
            files: dict[str, list[Upload]] = {}
            kind = headers.get("content-type", "").split(";")[0].strip().lower()
            upload = UPLOADS.get(path)
            if too_large:
                pass
            elif request.method == b"POST" and kind == FORM_TYPE:
                body = request.content.read(MAX_FORM_BYTES + 1)
                if len(body) > MAX_FORM_BYTES:
                    return None
                form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True,
                                             max_num_fields=MAX_FORM_FIELDS, strict_parsing=False)
            elif request.method == b"POST" and kind == UPLOAD_TYPE and upload is not None:
                request.content.seek(0)
                body = request.content.read(upload.max_bytes + 1)
                if len(body) > upload.max_bytes:
                    return None
                form, files = parse_multipart(headers["content-type"], body)
                if upload.as_text:
                    for name, uploads in files.items():
                        form.setdefault(name, []).extend(_as_text(u.data) for u in uploads)
                    files = {}
            query: dict[str, list[str]] = {}
            raw_query = request.uri.partition(b"?")[2]
            if request.method in (b"GET", b"HEAD") and 0 < len(raw_query) <= MAX_QUERY_BYTES:
                query = urllib.parse.parse_qs(raw_query.decode("ascii"), keep_blank_values=True,
                                              max_num_fields=MAX_FORM_FIELDS, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            return None
        return Request(request.method.decode("ascii", "replace"), path, headers, cookies, form, peer,
                       request.isSecure(), headers.get("host", ""), query, files, too_large)


def _as_text(data: bytes) -> str:
    """A file's content as text: UTF-8 (a byte order mark dropped), else
    Windows-1252, which Outlook writes its CSV exports in."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


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
