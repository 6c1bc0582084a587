"""HTTP and HTTPS (``[listen] http`` / ``https``) on twisted.web.

Requests are routed by ``Host`` (:class:`Hosts`):

* ``/.well-known/acme-challenge/`` on any host: the ACME challenges
  registered with :meth:`WebService.set_challenge` (never a website, never
  redirected);
* the box host name and the box's IP addresses: the mounts of
  ``app.http_mounts`` (CalDAV/CardDAV under ``/dav/``), the RFC 6764
  redirects ``/.well-known/caldav|carddav``, and the control panel
  (:mod:`.panel`) on every other path, ``/`` its sign-in page;
* a business's domains and their ``www.``: its website (:mod:`.site`), with
  the same DAV mount and redirects, ``/admin`` (to the panel), Thunderbird's
  ``/.well-known/autoconfig/``, Outlook's ``/autodiscover/autodiscover.xml``
  and the Apple profile ``/.well-known/appliance/apple.mobileconfig``;
* ``autoconfig.<domain>`` and ``autodiscover.<domain>``: client set-up only
  (:mod:`.clients`).

Any other host name gets the same neutral 404 as a missing page, so nobody
learns who is hosted here. Plain HTTP is redirected to HTTPS once a real
certificate exists for the name (``[tls] cert_file``, or one ACME issued;
``[web] https_redirect``);
``[web] hsts_seconds`` adds Strict-Transport-Security over HTTPS.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Any

from twisted.web import resource, server

from appliance.twisted_glue import listen_tcp, stop_ports, tls_options
from storage import box as boxdb

from . import clients, pages
from .acme import AcmeChallenge, Challenges
from .pages import NOT_FOUND, NOT_FOUND_RESOURCE, NotFound, Redirect  # noqa: F401 - public names
from .panel import AdminRedirect, PanelResource
from .site import SiteServer

log = logging.getLogger(__name__)

#: Host name prefixes that belong to a business's domain.
PREFIXES = ("www.", "autoconfig.", "autodiscover.")


@dataclass(frozen=True)
class Route:
    """What a host name is: ``kind`` is ``site``, ``autoconfig`` or
    ``autodiscover``; the rest names the business and domain."""

    kind: str
    slug: str
    domain: str
    display: str
    active: bool


class SiteLeaf(resource.Resource):
    """The website of one business (every path not claimed by a service)."""

    isLeaf = True

    def __init__(self, sites: SiteServer, slug: str):
        super().__init__()
        self.sites, self.slug = sites, slug

    def render(self, request: server.Request) -> Any:
        return self.sites.render(request, self.slug)


class Hosts(resource.Resource):
    """Routes each request by its Host header (see module doc)."""

    def __init__(self, app: Any):
        super().__init__()
        self.app = app
        self.sites = SiteServer(app)
        self.challenges = Challenges()
        self.acme = AcmeChallenge(self.challenges)
        self.routes: dict[str, Route] = {}
        self.owners: dict[str, tuple[str, str]] = {}
        self.leaves: dict[str, SiteLeaf] = {}
        self.served = resource.Resource()
        self.panel, self.admin = PanelResource(app), AdminRedirect(app)
        self.well_known = {
            # RFC 6764 section 5: clients start at /.well-known/caldav|carddav.
            b"caldav": Redirect(b"/dav/"),
            b"carddav": Redirect(b"/dav/"),
        }
        self.served.putChild(b".well-known", _Children(self.well_known))
        self.mounts: dict[bytes, Any] = {}
        for prefix, child in app.http_mounts:
            self.served.putChild(prefix.strip(b"/"), child)
            self.mounts[prefix.strip(b"/")] = child
        self.dav_root = Redirect(b"/dav/")
        self.unavailable = pages.Fixed(503, pages.UNAVAILABLE)
        web = app.settings.web
        self.hsts = b"max-age=%d" % web.hsts_seconds if web.hsts_seconds else None
        # With a configured certificate every name is redirected; otherwise
        # a name is once ACME has issued a certificate that covers it.
        self.https_redirect = web.https_redirect
        self.all_to_https = web.https_redirect and bool(app.settings.tls.cert_file)

    async def refresh(self) -> None:
        tenants = await self.app.box.read("web hosts", boxdb.list_tenants)
        routes: dict[str, Route] = {}
        owners: dict[str, tuple[str, str]] = {}
        for t in tenants:
            active = t["state"] == "active"
            for domain in t["domains"]:
                owners[domain] = (t["slug"], t["name"])
                site = Route("site", t["slug"], domain, t["name"], active)
                routes[domain] = routes[f"www.{domain}"] = site
                routes[f"autoconfig.{domain}"] = Route("autoconfig", t["slug"], domain, t["name"], active)
                routes[f"autodiscover.{domain}"] = Route("autodiscover", t["slug"], domain, t["name"], active)
        self.routes, self.owners = routes, owners
        self.leaves = {t["slug"]: self.leaves.get(t["slug"]) or SiteLeaf(self.sites, t["slug"]) for t in tenants}

    def owner(self, domain: str) -> tuple[str, str] | None:
        """(slug, business name) of the business that has ``domain``."""
        return self.owners.get(domain)

    def is_box(self, host: str) -> bool:
        if host == self.app.settings.box.hostname:
            return True
        try:
            ipaddress.ip_address(host.strip("[]"))
            return True  # reached by address: the box itself
        except ValueError:
            return False

    def getChildWithDefault(self, segment: bytes, request: server.Request) -> resource.IResource:
        set_header = request.responseHeaders.setRawHeaders
        set_header(b"x-content-type-options", [b"nosniff"])
        set_header(b"referrer-policy", [b"strict-origin-when-cross-origin"])
        secure = request.isSecure()
        if secure and self.hsts is not None:
            set_header(b"strict-transport-security", [self.hsts])
        postpath = request.postpath
        if segment == b".well-known" and postpath[:1] == [b"acme-challenge"]:
            request.prepath.append(postpath.pop(0))
            return self.acme
        host = request.getRequestHostname().decode("ascii", "replace").lower().rstrip(".")
        route = self.routes.get(host)
        if route is None:
            if not self.is_box(host):
                return NOT_FOUND_RESOURCE
            if not secure and self._to_https_for(host):
                return self._to_https(request, host)
            child = self.served.children.get(segment)
            return child if child is not None else self.panel
        if not secure and self._to_https_for(host):
            return self._to_https(request, host)
        if not route.active:
            return self.unavailable
        if route.kind == "site":
            return self._site(segment, request, route)
        if route.kind == "autoconfig":
            rest = [segment, *postpath]
            if rest == [b"mail", b"config-v1.1.xml"] or rest == [b".well-known", b"autoconfig", b"mail", b"config-v1.1.xml"]:
                return clients.Autoconfig(self.app, route.domain, route.display)
            return NOT_FOUND_RESOURCE
        # autodiscover.<domain>
        if _is_autodiscover(segment, postpath):
            return clients.Autodiscover(self.app, route.slug, self.owner)
        return NOT_FOUND_RESOURCE

    def _site(self, segment: bytes, request: server.Request, route: Route) -> resource.IResource:
        postpath = request.postpath
        mount = self.mounts.get(segment)
        if mount is not None:
            return mount
        if segment == b".well-known" and postpath:
            name = postpath[0]
            if name in self.well_known and len(postpath) == 1:
                return self.well_known[name]
            if postpath == [b"autoconfig", b"mail", b"config-v1.1.xml"]:
                return clients.Autoconfig(self.app, route.domain, route.display)
            if postpath == [b"appliance", b"apple.mobileconfig"]:
                return clients.MobileConfig(self.app, route.slug, self.owner)
        elif _is_autodiscover(segment, postpath):
            return clients.Autodiscover(self.app, route.slug, self.owner)
        elif segment == b"admin" and postpath in ([], [b""]):
            return self.admin
        elif segment == b"" and not postpath and request.method in (b"PROPFIND", b"OPTIONS", b"REPORT"):
            return self.dav_root
        leaf = self.leaves.get(route.slug)
        if leaf is None:
            leaf = self.leaves[route.slug] = SiteLeaf(self.sites, route.slug)
        return leaf

    def _to_https_for(self, host: str) -> bool:
        return self.all_to_https or (self.https_redirect and self.app.certificates().issued(host))

    def _to_https(self, request: server.Request, host: str) -> resource.IResource:
        if not request.uri.startswith(b"/"):
            return pages.BAD_REQUEST_RESOURCE
        port = clients.public_ports(self.app)["https"]
        authority = host if port == 443 else f"{host}:{port}"
        return Redirect(b"https://" + authority.encode("ascii") + request.uri)

    def render(self, request: server.Request) -> bytes:
        return NOT_FOUND_RESOURCE.render(request)


def _is_autodiscover(segment: bytes, postpath: list[bytes]) -> bool:
    # Outlook asks /autodiscover/autodiscover.xml and /Autodiscover/Autodiscover.xml.
    return segment.lower() == b"autodiscover" and [p.lower() for p in postpath] == [b"autodiscover.xml"]


class _Children(resource.Resource):
    """A fixed set of children, 404 for the rest."""

    def __init__(self, children: dict[bytes, resource.IResource]):
        super().__init__()
        for name, child in children.items():
            self.putChild(name, child)

    def getChild(self, path: bytes, request: server.Request) -> resource.IResource:
        return NOT_FOUND_RESOURCE


class WebService:
    """The running listeners, and the hooks other services use."""

    def __init__(self, ports: list, hosts: Hosts):
        self.ports = ports
        self.hosts = hosts

    def set_challenge(self, token: str, key_authorization: str) -> None:
        """Serve ``key_authorization`` at ``/.well-known/acme-challenge/<token>``."""
        self.hosts.challenges.set(token, key_authorization)

    def clear_challenge(self, token: str) -> None:
        self.hosts.challenges.clear(token)

    def site_published(self, slug: str) -> None:
        """Serve ``slug``'s new version from the next request on."""
        self.hosts.sites.forget(slug)

    async def stop(self) -> None:
        await stop_ports(self.ports)


#: Sent, and the connection closed, when a request body passes the limit.
TOO_LARGE = b"HTTP/1.1 413 Content Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


class BoundedRequest(server.Request):
    """A request whose body may not pass ``site.max_body`` bytes.

    twisted.web would otherwise spool a body of any size to a temporary file
    before any resource sees it. A larger declared Content-Length, or a
    chunked body that grows past the limit, is answered 413 at once and the
    connection closed; the request is never processed.
    """

    refused = False
    received = 0

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > self.channel.site.max_body:
            self._refuse()
            length = 0
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.refused:
            return
        self.received += len(data)
        if self.received > self.channel.site.max_body:
            self._refuse()
            return
        super().handleContentChunk(data)

    def process(self) -> None:
        if not self.refused:
            super().process()

    def _refuse(self) -> None:
        if self.refused:
            return
        self.refused = True
        log.info("%s: request body over %d bytes refused", self.getClientAddress(), self.channel.site.max_body)
        self.channel.transport.write(TOO_LARGE)
        self.channel.transport.loseConnection()


class Site(server.Site):
    """twisted.web's Site with bounded request bodies (:class:`BoundedRequest`)
    and the access log made optional: by default Twisted formats a line for
    every request into the daemon's log, which costs a fifth of the time a
    cached file takes to serve."""

    requestFactory = BoundedRequest

    def __init__(self, root: resource.Resource, access_log: bool, max_body: int):
        super().__init__(root)
        self.access_log = access_log
        self.max_body = max_body
        self.displayTracebacks = False

    def log(self, request: server.Request) -> None:
        if self.access_log:
            super().log(request)


async def start(app: Any) -> WebService:
    hosts = Hosts(app)
    await hosts.refresh()
    app.on_change(hosts.refresh)
    # The largest body any route takes is a DAV request's.
    max_body = max(app.settings.dav.max_request_bytes, clients.MAX_AUTODISCOVER_BYTES)
    site = Site(hosts, app.settings.web.access_log, max_body)
    addresses = app.settings.listen.addresses
    ports = listen_tcp(app, "http", site, app.settings.listen.http, addresses)
    try:
        ports += listen_tcp(app, "https", site, app.settings.listen.https, addresses, tls=tls_options(app))
    except Exception:
        await stop_ports(ports)
        raise
    return WebService(ports, hosts)
