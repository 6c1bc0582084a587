"""HTTP and HTTPS (``[listen] http`` / ``https``) on twisted.web.

Requests are routed by ``Host``: the box host name, an IP address of the box,
and every domain a business has (with its ``www.``, ``autoconfig.`` and
``autodiscover.`` names) reach the services mounted in ``app.http_mounts``
(CalDAV/CardDAV under ``/dav/``) and the RFC 6764 redirects
``/.well-known/caldav`` and ``/.well-known/carddav``. Any other host name gets
the same neutral 404 as a missing page, so nobody learns who is hosted here.
Serving the businesses' websites comes with the site builder.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from twisted.web import resource, server, util

from appliance.twisted_glue import listen_tcp, stop_ports, tls_options
from storage import box as boxdb

log = logging.getLogger(__name__)

#: Host name prefixes that belong to a business's domain.
PREFIXES = ("www.", "autoconfig.", "autodiscover.")
NOT_FOUND = b"<!DOCTYPE html><title>Not found</title><h1>Not found</h1>\n"


class NotFound(resource.Resource):
    """The one 404 for unknown hosts and missing pages alike."""

    isLeaf = True

    def render(self, request: server.Request) -> bytes:
        request.setResponseCode(404)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return NOT_FOUND


NOT_FOUND_RESOURCE = NotFound()


class Redirect(resource.Resource):
    isLeaf = True

    def __init__(self, location: bytes):
        super().__init__()
        self.location = location

    def render(self, request: server.Request) -> bytes:
        request.setResponseCode(301)
        request.setHeader(b"location", self.location)
        return b""


class Hosts(resource.Resource):
    """Routes each request by its Host header (see module doc)."""

    def __init__(self, app: Any):
        super().__init__()
        self.app = app
        self.domains: frozenset[str] = frozenset()
        self.served = resource.Resource()
        self.served.putChild(b"", Root())
        well_known = resource.Resource()
        # RFC 6764 section 5: clients start at /.well-known/caldav|carddav.
        well_known.putChild(b"caldav", Redirect(b"/dav/"))
        well_known.putChild(b"carddav", Redirect(b"/dav/"))
        self.served.putChild(b".well-known", well_known)
        for prefix, child in app.http_mounts:
            self.served.putChild(prefix.strip(b"/"), child)
        self.not_found = NotFound()

    async def refresh(self) -> None:
        rows = await self.app.box.read("web hosts", boxdb.all_domains)
        self.domains = frozenset(rows)

    def known(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if host == self.app.settings.box.hostname:
            return True
        try:
            ipaddress.ip_address(host.strip("[]"))
            return True  # reached by address: the box itself
        except ValueError:
            pass
        if host in self.domains:
            return True
        return any(host.startswith(p) and host[len(p):] in self.domains for p in PREFIXES)

    def getChildWithDefault(self, path: bytes, request: server.Request) -> resource.IResource:
        host = request.getRequestHostname().decode("ascii", "replace")
        if not self.known(host):
            return self.not_found
        child = self.served.children.get(path)
        return child if child is not None else self.not_found

    def render(self, request: server.Request) -> bytes:
        return self.not_found.render(request)


class Root(resource.Resource):
    """``/`` of a hosted name: DAV clients that start at the bare host
    (PROPFIND or OPTIONS on ``/``) are sent to the DAV root; browsers get the
    website (the neutral 404 until one is published)."""

    isLeaf = True

    def render(self, request: server.Request) -> bytes:
        if request.method in (b"PROPFIND", b"OPTIONS", b"REPORT"):
            request.setResponseCode(301)
            request.setHeader(b"location", b"/dav/")
            return b""
        return NOT_FOUND_RESOURCE.render(request)


class WebService:
    def __init__(self, ports: list):
        self.ports = ports

    async def stop(self) -> None:
        await stop_ports(self.ports)


async def start(app: Any) -> WebService:
    hosts = Hosts(app)
    await hosts.refresh()
    app.on_change(hosts.refresh)
    site = server.Site(hosts)
    site.displayTracebacks = False
    addresses = app.settings.listen.addresses
    ports = listen_tcp(app, "http", site, app.settings.listen.http, addresses)
    try:
        ports += listen_tcp(app, "https", site, app.settings.listen.https, addresses, tls=tls_options(app))
    except Exception:
        await stop_ports(ports)
        raise
    return WebService(ports)
