"""Zero-touch client set-up: what mail, calendar and contacts clients fetch
to configure themselves from an address alone.

* Thunderbird's autoconfig (``config-v1.1.xml``), on ``autoconfig.<domain>``
  and ``<domain>/.well-known/autoconfig/``: the same for every address of the
  domain, so it is answered without looking anyone up.
* Outlook's autodiscover (plain-old-XML, a POST naming ``EMailAddress``), on
  ``autodiscover.<domain>`` and ``<domain>/autodiscover/``: answered for any
  address of a domain of that business; anything else gets one fixed error
  that says nothing about why. The new Outlook first asks the JSON
  ``autodiscover.json`` (:mod:`.outlookjson`), which points it here.
* An Apple configuration profile (``.mobileconfig``, mail + CalDAV +
  CardDAV, signed with the box's certificate) for any address of a domain
  of the business, else the neutral 404.

None of these answers tells someone who is not signed in whether an
address exists or whose it is: every address of a hosted domain gets the
same answer apart from the address itself, and no one's name is in it.
The settings are useless without the account's password.

Host names, ports and the profile come from ``app.core.devices``
(:mod:`appliance.services.devices`), which the control panel's "Your
devices" pages read too: the client host name of the address's domain
(``[box] client_label``, else ``[box] hostname``) and the ``[web]
advertise_*`` ports, which default to the ports really bound.
"""

from __future__ import annotations

import asyncio
import logging
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring
from twisted.web import resource, server

from storage import names
from appliance.errors import InvalidInput, NotFound

from . import pages

if TYPE_CHECKING:
    from appliance.app import App

log = logging.getLogger(__name__)

#: Largest autodiscover request read; Outlook's are under 1 KiB.
MAX_AUTODISCOVER_BYTES = 16 * 1024
#: Largest profile query string considered.
MAX_QUERY_BYTES = 1024
XML = b"text/xml; charset=utf-8"
MOBILECONFIG = b"application/x-apple-aspen-config"
_REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
_RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
_OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
#: The one answer to every autodiscover request we will not answer.
AUTODISCOVER_ERROR = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<Autodiscover xmlns="' + _RESPONSE_NS.encode() + b'"><Response><Error>'
    b"<ErrorCode>600</ErrorCode><Message>Invalid Request</Message><DebugData />"
    b"</Error></Response></Autodiscover>\n"
)


def public_ports(app: App) -> dict[str, int]:
    """The ports clients are told to use (``app.core.devices``, the one rule)."""
    return app.core.devices.endpoints().ports()


def autoconfig_xml(app: App, domain: str, display: str) -> bytes:
    """Thunderbird's ``clientConfig`` for ``domain`` (version 1.1)."""
    ends = app.core.devices.endpoints(domain)
    host, ports = ends.host, ends.ports()
    root = ET.Element("clientConfig", version="1.1")
    provider = ET.SubElement(root, "emailProvider", id=domain)
    ET.SubElement(provider, "domain").text = domain
    ET.SubElement(provider, "displayName").text = display
    ET.SubElement(provider, "displayShortName").text = display

    def server_(tag: str, kind: str, port: int, socket_type: str) -> None:
        node = ET.SubElement(provider, tag, type=kind)
        ET.SubElement(node, "hostname").text = host
        ET.SubElement(node, "port").text = str(port)
        ET.SubElement(node, "socketType").text = socket_type
        ET.SubElement(node, "authentication").text = "password-cleartext"
        ET.SubElement(node, "username").text = "%EMAILADDRESS%"

    server_("incomingServer", "imap", ports["imaps"], "SSL")
    server_("outgoingServer", "smtp", ports["submissions"], "SSL")
    server_("outgoingServer", "smtp", ports["submission"], "STARTTLS")
    dav = ends.dav_url
    for tag, kind in (("addressBook", "carddav"), ("calendar", "caldav")):
        node = ET.SubElement(root, tag, type=kind)
        ET.SubElement(node, "username").text = "%EMAILADDRESS%"
        ET.SubElement(node, "authentication").text = "http-basic"
        ET.SubElement(node, "serverURL").text = dav
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def autodiscover_xml(app: App, address: str) -> bytes:
    """Outlook's POX answer: IMAP over TLS and SMTP over TLS for ``address``.
    No ``User`` element (it is optional): a display name would tell who
    holds the address."""
    ends = app.core.devices.endpoints(address.partition("@")[2])
    host, ports = ends.host, ends.ports()
    ET.register_namespace("", _RESPONSE_NS)
    root = ET.Element(f"{{{_RESPONSE_NS}}}Autodiscover")
    response = ET.SubElement(root, f"{{{_OUTLOOK_NS}}}Response")
    account = ET.SubElement(response, f"{{{_OUTLOOK_NS}}}Account")
    ET.SubElement(account, f"{{{_OUTLOOK_NS}}}AccountType").text = "email"
    ET.SubElement(account, f"{{{_OUTLOOK_NS}}}Action").text = "settings"
    for kind, port in (("IMAP", ports["imaps"]), ("SMTP", ports["submissions"])):
        proto = ET.SubElement(account, f"{{{_OUTLOOK_NS}}}Protocol")
        for tag, value in (
            ("Type", kind), ("Server", host), ("Port", str(port)), ("LoginName", address),
            ("DomainRequired", "off"), ("SPA", "off"), ("SSL", "on"), ("AuthRequired", "on"),
        ):
            ET.SubElement(proto, f"{{{_OUTLOOK_NS}}}{tag}").text = value
        if kind == "SMTP":
            ET.SubElement(proto, f"{{{_OUTLOOK_NS}}}UsePOPAuth").text = "off"
            ET.SubElement(proto, f"{{{_OUTLOOK_NS}}}SMTPLast").text = "off"
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def autodiscover_address(body: bytes) -> str:
    """The EMailAddress of an Outlook request, validated; InvalidInput if none.

    defusedxml refuses DTDs, entities and external references, so a hostile
    body cannot expand or reach anything.
    """
    try:
        root = safe_fromstring(body, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError):
        raise InvalidInput("malformed autodiscover request") from None
    found = root.find(f"{{{_REQUEST_NS}}}Request/{{{_REQUEST_NS}}}EMailAddress")
    if found is None or not found.text:
        raise InvalidInput("no EMailAddress in the autodiscover request")
    return names.address(found.text.strip())


# -- resources ---------------------------------------------------------------


def respond_later(request: server.Request, work: Awaitable[tuple[int, bytes, bytes, dict]]) -> Any:
    """Run ``work`` on the loop and write the (code, content type, body,
    extra headers) it returns; NOT_DONE_YET for twisted.web."""
    gone: list[bool] = []
    request.notifyFinish().addErrback(lambda _: gone.append(True))
    future = asyncio.ensure_future(work)

    def done(fut: asyncio.Future) -> None:
        if gone:
            return
        try:
            code, ctype, body, extra = fut.result()
        except Exception:  # noqa: BLE001 - answered 500, logged, the server goes on
            log.exception("client set-up answer failed")
            code, ctype, body, extra = 500, pages.HTML, b"", {}
        for name, value in extra.items():
            request.setHeader(name, value)
        body = pages.fixed(request, code, body, ctype)
        if request.method != b"HEAD":
            request.setHeader(b"content-length", b"%d" % len(body))
            if body:
                request.write(body)
        request.finish()

    future.add_done_callback(done)
    return server.NOT_DONE_YET


class Autoconfig(resource.Resource):
    """``config-v1.1.xml`` for one domain (GET/HEAD)."""

    isLeaf = True

    def __init__(self, app: App, domain: str, display: str):
        super().__init__()
        self.app, self.domain, self.display = app, domain, display

    def render(self, request: server.Request) -> bytes:
        refused = pages.refuse_method(request)
        if refused is not None:
            return refused
        return pages.fixed(request, 200, autoconfig_xml(self.app, self.domain, self.display), XML)


class Autodiscover(resource.Resource):
    """Outlook's POX autodiscover for the business ``slug`` (POST only).
    ``lookup`` gives the (slug, name) of the business that has a domain."""

    isLeaf = True

    def __init__(self, app: App, slug: str | None, lookup: Callable[[str], tuple[str, str] | None]):
        super().__init__()
        self.app, self.slug, self.lookup = app, slug, lookup

    def render(self, request: server.Request) -> Any:
        refused = pages.refuse_method(request, (b"POST",))
        if refused is not None:
            return refused
        content = request.content
        content.seek(0, 2)
        size = content.tell()
        if size > MAX_AUTODISCOVER_BYTES:
            return pages.fixed(request, 413, b"")
        content.seek(0)
        body = content.read(MAX_AUTODISCOVER_BYTES)
        return respond_later(request, self._answer(request, body))

    async def _answer(self, request: server.Request, body: bytes) -> tuple[int, bytes, bytes, dict]:
        peer = request.getClientAddress()
        try:
            address = autodiscover_address(body)
        except InvalidInput as exc:
            log.info("%s: autodiscover refused: %s", peer, exc)
            return 200, XML, AUTODISCOVER_ERROR, {}
        if not hosted_by(address, self.slug, self.lookup):
            log.info("%s: autodiscover for an address not hosted here", peer)
            return 200, XML, AUTODISCOVER_ERROR, {}
        return 200, XML, autodiscover_xml(self.app, address), {}


class MobileConfig(resource.Resource):
    """``apple.mobileconfig?email=ADDRESS`` for an address of a domain of ``slug``."""

    isLeaf = True

    def __init__(self, app: App, slug: str):
        super().__init__()
        self.app, self.slug = app, slug

    def render(self, request: server.Request) -> Any:
        refused = pages.refuse_method(request)
        if refused is not None:
            return refused
        values = request.args.get(b"email") or []
        query = request.uri.partition(b"?")[2]
        if len(values) != 1 or len(query) > MAX_QUERY_BYTES:
            return pages.fixed(request, 404, pages.NOT_FOUND)
        try:
            address = names.address(values[0].decode("utf-8"))
        except (InvalidInput, UnicodeDecodeError):
            return pages.fixed(request, 404, pages.NOT_FOUND)
        return respond_later(request, self._answer(address))

    async def _answer(self, address: str) -> tuple[int, bytes, bytes, dict]:
        try:
            # Reads the business file and signs: off the loop.
            profile = await asyncio.to_thread(self.app.core.devices.profile, address, self.slug)
        except (NotFound, InvalidInput):
            return 404, pages.HTML, pages.NOT_FOUND, {}
        disposition = f'attachment; filename="{address.partition("@")[2]}.mobileconfig"'.encode("ascii")
        return 200, MOBILECONFIG, profile.body, {b"content-disposition": disposition}


def hosted_by(address: str, slug: str | None, lookup: Callable[[str], tuple[str, str] | None]) -> bool:
    """Whether the domain of ``address`` belongs to a business, and with
    ``slug`` (the business whose host name was asked) to that one. Reads
    the catalog in memory only: whether the address itself exists is
    nobody's business here."""
    owner = lookup(address.partition("@")[2])
    return owner is not None and (slug is None or owner[0] == slug)
