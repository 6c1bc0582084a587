"""Autodiscover v2, the JSON the new Outlook (and Outlook for Mac, iOS and
Android) asks first:

* ``/autodiscover/autodiscover.json?Email=ADDRESS&Protocol=AutodiscoverV1``
* ``/autodiscover/autodiscover.json/v1.0/ADDRESS?Protocol=AutodiscoverV1``

For ``AutodiscoverV1`` the answer is where the POX autodiscover lives,
``{"Protocol": "AutodiscoverV1", "Url": "https://autodiscover.<domain>/Autodiscover/Autodiscover.xml"}``,
which Outlook then asks for the IMAP and SMTP settings
(:class:`.clients.Autodiscover`). Other protocols (``ActiveSync``,
``Ews``, ``Rest``...) are Exchange's, which this box does not speak: they
get a 404 with Exchange's JSON error shape, and so does an address that is
not of a domain of the business asked. As with every client set-up
answer, whether the address exists is not looked at.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from typing import TYPE_CHECKING, Callable

from twisted.web import resource, server

from appliance.errors import InvalidInput
from storage import names

from . import pages
from .clients import MAX_QUERY_BYTES, hosted_by

if TYPE_CHECKING:
    from appliance.app import App

log = logging.getLogger(__name__)

JSON = b"application/json; charset=utf-8"
PROTOCOL = "AutodiscoverV1"
#: Where the POX autodiscover is, on the address's own domain.
XML_PATH = "/Autodiscover/Autodiscover.xml"


def _error(code: str, message: str) -> bytes:
    return json.dumps({"ErrorCode": code, "ErrorMessage": message}, separators=(",", ":")).encode()


#: Answered 404 to any protocol but AutodiscoverV1.
UNSUPPORTED = _error("ProtocolNotSupported", f"The given protocol value is not supported. Supported values are '{PROTOCOL}'.")
#: Answered 404 to a missing, malformed or foreign address.
NOT_HOSTED = _error("InvalidUser", "The given user is not served here.")


def is_json_path(segment: bytes, postpath: list[bytes]) -> bool:
    """``/autodiscover/autodiscover.json`` or ``.../v1.0/<address>`` (any letter case)."""
    rest = [p.lower() for p in postpath]
    return segment.lower() == b"autodiscover" and (
        rest == [b"autodiscover.json"] or (len(rest) == 3 and rest[:2] == [b"autodiscover.json", b"v1.0"])
    )


class AutodiscoverJson(resource.Resource):
    """The JSON autodiscover (GET/HEAD) for the business ``slug``; ``lookup``
    gives the (slug, name) of the business that has a domain."""

    isLeaf = True

    def __init__(self, app: App, slug: str, lookup: Callable[[str], tuple[str, str] | None]):
        super().__init__()
        self.app, self.slug, self.lookup = app, slug, lookup

    def render(self, request: server.Request) -> bytes:
        refused = pages.refuse_method(request)
        if refused is not None:
            return refused
        query = request.uri.partition(b"?")[2]
        if len(query) > MAX_QUERY_BYTES:
            return pages.fixed(request, 404, NOT_HOSTED, JSON)
        # Exchange reads the parameter names in any letter case.
        args = {k.lower(): v for k, v in urllib.parse.parse_qs(query.decode("latin-1")).items()}
        if args.get("protocol", [""])[-1].lower() != PROTOCOL.lower():
            return pages.fixed(request, 404, UNSUPPORTED, JSON)
        if len(request.postpath) == 3:  # autodiscover.json/v1.0/<address> (twisted.web unquoted it)
            raw = request.postpath[2].decode("utf-8", "replace")
        else:
            raw = args.get("email", [""])[-1]
        try:
            address = names.address(raw)
        except InvalidInput:
            address = None
        if address is None or not hosted_by(address, self.slug, self.lookup):
            log.info("%s: JSON autodiscover for an address not hosted here", request.getClientAddress())
            return pages.fixed(request, 404, NOT_HOSTED, JSON)
        port = self.app.core.devices.endpoints().https
        host = "autodiscover." + address.partition("@")[2]
        authority = host if port == 443 else f"{host}:{port}"
        body = json.dumps({"Protocol": PROTOCOL, "Url": f"https://{authority}{XML_PATH}"}, separators=(",", ":"))
        return pages.fixed(request, 200, body.encode(), JSON)
