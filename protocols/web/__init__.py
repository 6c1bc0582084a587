"""HTTP and HTTPS (``[listen] http`` / ``https``) on twisted.web.

Requests are routed by ``Host`` (:class:`Hosts`):

* ``/.well-known/acme-challenge/`` on any host: the ACME challenges
  registered with :meth:`WebService.set_challenge` (never a website, never
  redirected);
* the box host name and the box's IP addresses: the mounts it is
  started with (CalDAV/CardDAV under ``/dav/``), the RFC 6764
  redirects ``/.well-known/caldav|carddav``, and the control panel
  (:mod:`.panel`) on every other path, ``/`` its sign-in page, but
  ``/api/``, the provisioning API (:mod:`.api`);
* a business's domains and their ``www.``: its website (:mod:`.site`), with
  the posts of its contact forms at ``/_contact`` (:mod:`.contact`), the
  same DAV mount and redirects, ``/admin`` (to the panel), Thunderbird's
  ``/.well-known/autoconfig/``, Outlook's ``/autodiscover/autodiscover.xml``
  (and the JSON ``/autodiscover/autodiscover.json``, :mod:`.outlookjson`)
  and the Apple profile ``/.well-known/mail-setup/apple.mobileconfig`` (and
  at ``/.well-known/appliance/``, where earlier links pointed);
* ``autoconfig.<domain>`` and ``autodiscover.<domain>``: client set-up only
  (:mod:`.clients`);
* ``mta-sts.<domain>``: the MTA-STS policy only (:mod:`.mtasts`);
* ``<[box] client_label>.<domain>`` (``mail.<domain>``), the client host
  name clients are given: the DAV mount and its ``/.well-known/`` redirects.

Any other host name gets the same neutral 404 as a missing page, so nobody
learns who is hosted here. Plain HTTP is redirected to HTTPS once a real
certificate exists for the name (``[tls] cert_file``, or one ACME issued;
``[web] https_redirect``);
``[web] hsts_seconds`` adds Strict-Transport-Security over HTTPS.

Cached website files are answered beneath twisted.web, with the same
bytes, by :mod:`.lean` (unless ``[web] access_log`` is on).

Framing, request size and time limits are the connection's
(:mod:`.channel`); connections per source address (``[web]
max_connections_per_source``, HTTP and HTTPS together) and the TLS handshake
time (``[tls] handshake_seconds``) are bounded by the listeners' guard
(:class:`appliance.twisted_glue.Guard`).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from twisted.web import resource, server

from appliance.connlimit import SourceLimit
from appliance.twisted_glue import Guard, listen_tcp, stop_ports, tls_options

from appliance import dnsdata, fleet
from appliance.zones import mta_sts_policy
from appliance.mailpolicy import POLICY_LABEL, POLICY_PATH
from appliance.panel.rights import UPLOADS
from appliance.services.contactform import MAX_BODY as CONTACT_MAX_BODY

from . import clients, contact, mtasts, outlookjson, pages
from .acme import AcmeChallenge, Challenges
from .channel import Channel, Limits
from .lean import LeanSites
from .pages import NOT_FOUND, NOT_FOUND_RESOURCE, NotFound, Redirect  # noqa: F401 - public names
from .api import ApiResource
from .panel import AdminRedirect, PanelResource, panel_url
from .site import SiteServer
from .spool import Request as SpoolingRequest

if TYPE_CHECKING:
    from appliance.app import App

log = logging.getLogger(__name__)

#: (path prefix, twisted.web resource) a service hands the web service.
Mount = tuple[bytes, resource.IResource]

#: Host name prefixes that belong to a business's domain.
PREFIXES = ("www.", "autoconfig.", "autodiscover.", POLICY_LABEL + ".")
#: The route kind of a domain's client host name (``[box] client_label``).
CLIENT = "client"
#: Sent, and the connection closed, to a source over ``[web] max_connections_per_source``.
TOO_MANY = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\nretry-after: 10\r\n\r\n"


@dataclass(frozen=True)
class Route:
    """What a host name is: ``kind`` is ``site``, ``autoconfig``,
    ``autodiscover`` or ``mta-sts``; the rest names the business and domain."""

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

    def __init__(self, app: App, mounts: Sequence[Mount] = ()):
        super().__init__()
        self.app = app
        self.sites = SiteServer(app)
        self.challenges = Challenges()
        self.acme = AcmeChallenge(self.challenges)
        self.catalog = app.catalog
        self.leaves: dict[str, SiteLeaf] = {}
        self.served = resource.Resource()
        self.panel, self.admin = PanelResource(app, site_published=self.sites.forget), AdminRedirect(app)
        self.api = ApiResource(app, lambda: panel_url(app))
        self.well_known = {
            # RFC 6764 section 5: clients start at /.well-known/caldav|carddav.
            b"caldav": Redirect(b"/dav/"),
            b"carddav": Redirect(b"/dav/"),
        }
        self.served.putChild(b".well-known", _Children(self.well_known))
        self.mounts: dict[bytes, Any] = {}
        for prefix, child in mounts:
            self.served.putChild(prefix.strip(b"/"), child)
            self.mounts[prefix.strip(b"/")] = child
        self.dav_root = Redirect(b"/dav/")
        self.unavailable = pages.Fixed(503, pages.UNAVAILABLE)
        self.box_dns = dnsdata.box_dns(app.settings)
        policy = self.box_dns.mta_sts
        self.mta_sts = mtasts.Policy(policy) if policy is not None else None
        web = app.settings.web
        self.hsts = b"max-age=%d" % web.hsts_seconds if web.hsts_seconds else None
        # With a configured certificate every name is redirected; otherwise
        # a name is once ACME has issued a certificate that covers it.
        self.https_redirect = web.https_redirect
        self.all_to_https = web.https_redirect and bool(app.settings.tls.cert_file)

    async def refresh(self) -> None:
        """The catalog changed (App reloads it first): keep the site
        resources of the businesses that are still here."""
        self.leaves = {b.slug: self.leaves.get(b.slug) or SiteLeaf(self.sites, b.slug) for b in self.catalog.businesses()}

    def route(self, host: str) -> Route | None:
        """What ``host`` is, from the App's catalog: a business's domain or
        its ``www.`` (its site), or its ``autoconfig.``/``autodiscover.``."""
        kind, domain = "site", host
        business = self.catalog.get(host)
        if business is None:
            for prefix in PREFIXES:
                if host.startswith(prefix):
                    domain = host[len(prefix):]
                    business = self.catalog.get(domain)
                    kind = "site" if prefix == "www." else prefix[:-1]
                    break
        if business is None:
            client_of = fleet.client_domain(self.app.settings, host)
            if client_of is not None:
                kind, domain, business = CLIENT, client_of, self.catalog.get(client_of)
        if business is None:
            return None
        return Route(kind, business.slug, domain, business.name, business.active)

    def owner(self, domain: str) -> tuple[str, str] | None:
        """(slug, business name) of the business that has ``domain``."""
        business = self.catalog.get(domain)
        return (business.slug, business.name) if business is not None else None

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
        for name, value in pages.SECURITY_HEADERS:  # also protocols.web.lean's
            set_header(name, [value])
        secure = request.isSecure()
        if secure and self.hsts is not None:
            set_header(b"strict-transport-security", [self.hsts])
        postpath = request.postpath
        if segment == b".well-known" and postpath[:1] == [b"acme-challenge"]:
            request.prepath.append(postpath.pop(0))
            return self.acme
        host = request.getRequestHostname().decode("ascii", "replace").lower().rstrip(".")
        route = self.route(host)
        if route is None:
            if not self.is_box(host):
                return NOT_FOUND_RESOURCE
            if segment == b"api":
                return self.api  # never redirected: a key must not cross plain HTTP
            if not secure and self.to_https_for(host):
                return self._to_https(request, host)
            child = self.served.children.get(segment)
            return child if child is not None else self.panel
        if not secure and self.to_https_for(host):
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
        if route.kind == POLICY_LABEL:
            if self.mta_sts is not None and [segment, *postpath] == POLICY_PATH.encode().split(b"/")[1:]:
                return self._mta_sts_for(route.domain)
            return NOT_FOUND_RESOURCE
        if route.kind == CLIENT:
            return self._client(segment, request)
        # autodiscover.<domain>
        if _is_autodiscover(segment, postpath):
            return clients.Autodiscover(self.app, route.slug, self.owner)
        if outlookjson.is_json_path(segment, postpath):
            return outlookjson.AutodiscoverJson(self.app, route.slug, self.owner)
        return NOT_FOUND_RESOURCE

    def _client(self, segment: bytes, request: server.Request) -> resource.IResource:
        """A domain's client host name: what clients are sent to on the box
        host name (DAV and its discovery), and Outlook's autodiscover."""
        postpath = request.postpath
        mount = self.mounts.get(segment)
        if mount is not None:
            return mount
        if segment == b".well-known":
            return self.served.children[b".well-known"]
        if segment == b"" and not postpath and request.method in (b"PROPFIND", b"OPTIONS", b"REPORT"):
            return self.dav_root
        return NOT_FOUND_RESOURCE

    def _mta_sts_for(self, domain: str) -> resource.IResource:
        """The policy served at ``mta-sts.<domain>``: the box's, naming the
        domain's own MX host when domains have client host names."""
        if not self.app.settings.box.client_label:
            return self.mta_sts
        return mtasts.Policy(mta_sts_policy(self.box_dns, domain))

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
            # devices.PROFILE_PATH, and the path links given before named.
            if postpath in ([b"mail-setup", b"apple.mobileconfig"], [b"appliance", b"apple.mobileconfig"]):
                return clients.MobileConfig(self.app, route.slug)
        elif _is_autodiscover(segment, postpath):
            return clients.Autodiscover(self.app, route.slug, self.owner)
        elif outlookjson.is_json_path(segment, postpath):
            return outlookjson.AutodiscoverJson(self.app, route.slug, self.owner)
        elif segment == b"admin" and postpath in ([], [b""]):
            return self.admin
        elif segment == contact.PATH and not postpath:
            return contact.ContactPost(self.app, route.slug)
        elif segment == b"" and not postpath and request.method in (b"PROPFIND", b"OPTIONS", b"REPORT"):
            return self.dav_root
        leaf = self.leaves.get(route.slug)
        if leaf is None:
            leaf = self.leaves[route.slug] = SiteLeaf(self.sites, route.slug)
        return leaf

    def to_https_for(self, host: str) -> bool:
        """Whether plain HTTP requests for ``host`` are redirected to HTTPS."""
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


class Site(server.Site):
    """twisted.web's Site on our :class:`.channel.Channel` (strict framing,
    body and time limits: ``limits``) and the access log made optional: by
    default Twisted formats a line for every request into the daemon's log,
    which costs a fifth of the time a cached file takes to serve."""

    protocol = Channel
    requestFactory = SpoolingRequest
    #: The lean path of cached website files (:mod:`.lean`), or None.
    lean: LeanSites | None = None

    def __init__(self, root: resource.Resource, access_log: bool, limits: Limits, requests: Any = None,
                 spool_dir: Path | None = None, spool_key_check: Callable[[str], bool] | None = None):
        """``spool_dir``: where a business file sent by another box is
        spooled (:mod:`.spool`), None: nowhere (such a PUT is refused);
        ``spool_key_check(token)``: whether the token is a write API key
        (blocking: run in a thread)."""
        super().__init__(root)
        self.spool_dir = spool_dir
        self.spool_key_check = spool_key_check
        #: The metrics' counter of requests by status (``app.metrics.http_requests``).
        self.requests = requests
        self.access_log = access_log
        self.limits = limits
        self.displayTracebacks = False

    def getResourceFor(self, request: server.Request) -> Any:  # noqa: N802 - Twisted's interface
        if self.requests is not None:
            # Counted when the request ends, even if the client has gone by
            # then (log() is skipped for those); "none": nothing was sent.
            request.notifyFinish().addBoth(
                lambda _: self.requests.labels(status=str(request.code) if request.startedWriting else "none").inc())
        return super().getResourceFor(request)

    def log(self, request: server.Request) -> None:
        if self.access_log:
            super().log(request)

    def acceptableProtocols(self) -> list[bytes]:  # noqa: N802 - Twisted's ALPN interface
        # HTTP/1.1 only: the channel is HTTP/1.1's, whatever else is installed.
        return [b"http/1.1"]


def _write_key(app: App, token: str) -> bool:
    caller = app.core.api_keys.authenticate(token) if token else None
    return caller is not None and caller.may_write


def limits_of(app: App, mounts: Sequence[Mount]) -> Limits:
    """The :class:`.channel.Limits` of the settings: ``[dav]
    max_request_bytes`` under each of ``mounts`` (``/dav/``), the panel's
    upload limit on its upload form, the contact forms' on ``/_contact``,
    ``[api] max_body_bytes`` on ``/api``, ``[web]`` for the rest."""
    web = app.settings.web
    dav_bytes = app.settings.dav.max_request_bytes
    limited = tuple((b"/" + prefix.strip(b"/"), dav_bytes) for prefix, _ in mounts)
    # The panel's forms that carry files (webmail's message, an import).
    limited += tuple((path.encode("ascii"), upload.max_bytes) for path, upload in UPLOADS.items())
    limited += ((b"/" + contact.PATH, CONTACT_MAX_BODY), (b"/api/v1/moves", app.settings.fleet.max_move_bytes),
                (b"/api", app.settings.api.max_body_bytes))
    return Limits(
        header_seconds=float(web.header_seconds),
        body_seconds=float(web.body_seconds),
        body_min_rate=web.body_min_rate,
        max_body=web.max_request_bytes,
        mounts=limited,
        explained=frozenset(path.encode("ascii") for path, upload in UPLOADS.items() if upload.explained),
    )


async def start(app: App, mounts: Sequence[Mount] = ()) -> WebService:
    """Bind HTTP and HTTPS; serve ``mounts`` ((path prefix, resource) pairs,
    DAV's ``/dav/``) beside the sites and the box's pages."""
    hosts = Hosts(app, mounts)
    await hosts.refresh()
    app.on_change(hosts.refresh)
    site = Site(hosts, app.settings.web.access_log, limits_of(app, mounts), app.metrics.http_requests,
                spool_dir=app.tenants.directory, spool_key_check=lambda token: _write_key(app, token))
    if not app.settings.web.access_log:
        # Every request answered must have its access log line: with the
        # log on, twisted.web answers them all.
        site.lean = LeanSites(hosts, app.metrics.http_requests)
    # One count per source for HTTP and HTTPS together.
    guard = Guard(SourceLimit("web", app.settings.web.max_connections_per_source),
                  float(app.settings.tls.handshake_seconds), refusal=TOO_MANY)
    addresses = app.settings.listen.addresses
    ports = listen_tcp(app, "http", site, app.settings.listen.http, addresses, guard=guard)
    try:
        ports += listen_tcp(app, "https", site, app.settings.listen.https, addresses, tls=tls_options(app), guard=guard)
    except Exception:
        await stop_ports(ports)
        raise
    return WebService(ports, hosts)
