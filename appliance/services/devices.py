"""Devices: what mail, calendar and contacts clients are told, from one place.

The server names, ports and addresses a client needs are worked out here
once, and every front end reads them from here: Thunderbird's autoconfig,
Outlook's autodiscover and the Apple profile (``protocols/web/clients.py``)
and the control panel's "Your devices" pages. The host is the client host
name of the address's domain (``mail.<domain>`` with ``[box] client_label``,
see :mod:`appliance.fleet`), else ``[box] hostname``; the ports are ``[web] advertise_*`` when set (a firewall that
maps ports), else the ports really bound, else ``[listen]``'s.

The Apple configuration profile is built here too, and signed with the
box's certificate (the one ACME issued for the host name, else the one of
``[tls]`` or the self-signed one) as Apple wants it: CMS SignedData with the
profile inside (not detached), DER. Without a usable certificate and key it
is served unsigned, and the phone shows it as "Not Verified".
"""

from __future__ import annotations

import logging
import plistlib
import sqlite3
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from storage import certs as certdb
from storage import dav, directory, mail, names

from .. import fleet
from ..errors import NotFound
from .base import Stores

log = logging.getLogger(__name__)

#: The ports clients are told about, by listener name.
CLIENT_PORTS = ("imaps", "submissions", "submission", "https")
#: Where a business's domain serves the Apple profile (protocols/web): a
#: path that names no product, since a reseller's customers see it.
PROFILE_PATH = "/.well-known/mail-setup/apple.mobileconfig"
#: Most aliases listed for one user.
MAX_ADDRESSES = 100
_PROFILE_NAMESPACE = uuid.UUID("5b0e8d2c-6f43-4f0a-9a57-3c1d2f1e7a10")

#: A listener name -> [(address, port)] as bound (``App.listeners``).
Listeners = dict[str, list[tuple[str, int]]]


@dataclass(frozen=True)
class Endpoints:
    """The box as clients see it: host name, public ports, web addresses."""

    host: str
    imaps: int
    submissions: int
    submission: int
    https: int

    def ports(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in CLIENT_PORTS}

    def https_url(self, host: str | None = None) -> str:
        """``https://<host>[:port]/`` (the box host name by default)."""
        host = host or self.host
        return f"https://{host}/" if self.https == 443 else f"https://{host}:{self.https}/"

    @property
    def dav_url(self) -> str:
        """Where CalDAV and CardDAV live; clients discover the rest from it."""
        return self.https_url() + "dav/"

    @property
    def caldav_discovery(self) -> str:
        """RFC 6764 section 5: clients given this find the calendars."""
        return self.https_url() + ".well-known/caldav"

    @property
    def carddav_discovery(self) -> str:
        return self.https_url() + ".well-known/carddav"


@dataclass(frozen=True)
class Collection:
    """One of a user's (or their business's) DAV collections."""

    name: str  # as in storage.dav: calendar, tasks, contacts, projects...
    kind: str  # events | tasks | contacts
    url: str


@dataclass(frozen=True)
class UserSetup:
    """What one user types into (or gets in) a client: the endpoints, their
    user name (their address), their collections, the profile's address,
    and their mailbox use."""

    endpoints: Endpoints
    address: str
    display_name: str
    business: str
    addresses: list[str]
    used_bytes: int
    quota_bytes: int
    own: list[Collection]
    shared: list[Collection]
    profile_url: str
    #: ``verified`` (a certificate from an authority), ``self-signed``, or
    #: ``unsigned``: what a phone will say of the profile.
    profile_signature: str
    #: The name the profile is signed by (the box's certificate), which
    #: may differ from the client host name the accounts in it use.
    profile_signer: str = ""


@dataclass(frozen=True)
class Profile:
    """The bytes to serve (``application/x-apple-aspen-config``)."""

    body: bytes
    signed: bool


@dataclass(frozen=True)
class Signer:
    """The box's certificate, its key, and the certificates that chain it
    to an authority (sent along so the phone can build the chain)."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    chain: list[x509.Certificate]

    @property
    def self_signed(self) -> bool:
        return self.cert.issuer == self.cert.subject


def _kind(tag: str, props: dict) -> str:
    if tag == "VADDRESSBOOK":
        return "contacts"
    return "tasks" if props.get("C:supported-calendar-component-set") == "VTODO" else "events"


class Devices:
    """Client set-up values (see module doc). ``listeners`` is the App's
    live record of bound ports; ``box_certificate`` returns the box
    certificate and key files (configured, or self-signed)."""

    def __init__(self, stores: Stores, listeners: Listeners, box_certificate: Callable[[], tuple[Path, Path]],
                 brand: Callable[[], str] | None = None):
        """``brand``: the box's brand name now, which the Apple profile names as its issuer."""
        self.stores = stores
        self.listeners = listeners
        self.box_certificate = box_certificate
        self.brand = brand or (lambda: "")

    def endpoints(self, domain: str | None = None) -> Endpoints:
        """The host name and ports the clients of mail domain ``domain`` are
        told (the box host name when None: the panel, feeds). Reads nothing
        from disk."""
        settings = self.stores.settings
        ports = {}
        for name in CLIENT_PORTS:
            bound = self.listeners.get(name)
            ports[name] = (getattr(settings.web, f"advertise_{name}")
                           or (bound[0][1] if bound else getattr(settings.listen, name)))
        host = fleet.client_host(settings, domain) if domain else settings.box.hostname
        return Endpoints(host, **ports)

    def profile_url(self, address: str) -> str:
        """Where a phone downloads ``address``'s profile: on the address's own
        domain (served by ``protocols/web``), on the public HTTPS port."""
        domain = address.rpartition("@")[2]
        return (self.endpoints().https_url(domain).rstrip("/") + PROFILE_PATH
                + "?" + urllib.parse.urlencode({"email": address}))

    def for_user(self, slug: str, address: str) -> UserSetup:
        """Everything the "Your devices" pages show ``address`` of business
        ``slug``. Checks: the user exists in that business and is active.
        Changes nothing. Raises InvalidInput, NotFound."""
        address = names.address(address)

        def read(conn: sqlite3.Connection) -> tuple:
            user = directory.get_user(conn, address)
            if user is None or user["state"] != "active":
                raise NotFound("no such user")
            used, quota = mail.quota_usage(conn, user["id"])
            return (user["display_name"] or address, directory.get_tenant(conn).name,
                    directory.addresses_of(conn, user["id"])[:MAX_ADDRESSES], used, quota)

        display, business, addresses, used, quota = self.stores.handle(slug).read_sync("devices", read)
        ends = self.endpoints(address.rpartition("@")[2])
        own = [Collection(name, _kind(tag, props), f"{ends.dav_url}{address}/{name}/") for name, tag, props in dav.PERSONAL]
        shared = [Collection(name, _kind(tag, props), f"{ends.dav_url}{slug}/{name}/") for name, tag, props in dav.SHARED]
        signer = self._signer()
        signature = "unsigned" if signer is None else "self-signed" if signer.self_signed else "verified"
        return UserSetup(ends, address, display, business, addresses, used, quota, own, shared,
                         self.profile_url(address), signature, self.stores.settings.box.hostname)

    def profile(self, address: str, slug: str | None = None) -> Profile:
        """The Apple profile of ``address`` (mail, CalDAV, CardDAV), signed
        when the box has a usable certificate and key.

        Served to anyone who asks (a phone is not signed in), so it is the
        same for every address of a domain a business has, whether a user
        holds it or not, and names no one: it tells nothing a stranger
        could not guess, and the accounts in it need the password.
        Checks: the address's domain belongs to a business and (given
        ``slug``) that business is ``slug``. Reads no business file;
        changes nothing. Raises InvalidInput, NotFound.
        """
        address = names.address(address)
        owner = self.stores.owner_of(address.rpartition("@")[2])
        if owner is None or (slug is not None and owner != slug):
            raise NotFound("no such domain")
        body = mobileconfig(self.endpoints(address.rpartition("@")[2]), address, organization=self.brand())
        signer = self._signer()
        if signer is None:
            return Profile(body, False)
        return Profile(sign(body, signer), True)

    def _signer(self) -> Signer | None:
        """The box's certificate and key: ACME's for the host name while it
        is valid, else the files of ``[tls]`` (or the self-signed ones);
        None when neither can be read."""
        hostname = self.stores.settings.box.hostname
        row = self.stores.box.read_sync("profile signer", lambda c: certdb.get_certificate(c, hostname))
        if row and row["cert_pem"] and row["key_pem"] and (row["not_after"] or 0) > time.time():
            pems = row["cert_pem"].encode(), row["key_pem"].encode()
        else:
            try:
                cert_file, key_file = self.box_certificate()
                pems = Path(cert_file).read_bytes(), Path(key_file).read_bytes()
            except OSError as exc:
                log.warning("profiles go out unsigned: the box certificate cannot be read (%s)", exc)
                return None
        try:
            certs = x509.load_pem_x509_certificates(pems[0])
            key = serialization.load_pem_private_key(pems[1], password=None)
        except (ValueError, TypeError) as exc:
            log.warning("profiles go out unsigned: the box certificate or key is not usable (%s)", exc)
            return None
        if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
            log.warning("profiles go out unsigned: the box key is neither RSA nor EC")
            return None
        if key.public_key().public_numbers() != certs[0].public_key().public_numbers():
            # A signature no phone could verify is worse than none.
            log.warning("profiles go out unsigned: the box key is not the certificate's")
            return None
        return Signer(certs[0], key, certs[1:])


def sign(body: bytes, signer: Signer) -> bytes:
    """``body`` inside a CMS SignedData (RFC 5652), DER, with the signer's
    certificate and its chain: what iOS and macOS read as a signed profile."""
    builder = pkcs7.PKCS7SignatureBuilder().set_data(body).add_signer(signer.cert, signer.key, hashes.SHA256())
    for cert in signer.chain:
        builder = builder.add_certificate(cert)
    # Binary: sign the bytes as they are (without it the plist's line ends
    # would become CRLF, S/MIME's canonical text form).
    return builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])


def mobileconfig(ends: Endpoints, address: str, display: str | None = None, organization: str = "") -> bytes:
    """An Apple profile (plist XML) with the mail, CalDAV and CardDAV accounts
    of ``address``, labelled ``display`` (the address by default), issued
    by ``organization`` (the box's brand; none when empty); the same
    bytes for the same inputs (UUIDs derive from the address, so installing
    it again replaces the old one)."""
    display = display or address
    host = ends.host
    base = ".".join(host.split(".")[::-1])
    principal = f"/dav/{address}/"

    def payload(kind: str, suffix: str, extra: dict) -> dict:
        return {
            "PayloadType": kind,
            "PayloadVersion": 1,
            "PayloadIdentifier": f"{base}.{suffix}.{address}",
            "PayloadUUID": str(uuid.uuid5(_PROFILE_NAMESPACE, f"{suffix}:{address}")).upper(),
            "PayloadDisplayName": f"{display} ({suffix})",
            **extra,
        }

    content = [
        payload("com.apple.mail.managed", "mail", {
            "EmailAccountType": "EmailTypeIMAP",
            "EmailAccountDescription": address,
            "EmailAddress": address,
            "IncomingMailServerHostName": host,
            "IncomingMailServerPortNumber": ends.imaps,
            "IncomingMailServerUseSSL": True,
            "IncomingMailServerUsername": address,
            "IncomingMailServerAuthentication": "EmailAuthPassword",
            "OutgoingMailServerHostName": host,
            "OutgoingMailServerPortNumber": ends.submissions,
            "OutgoingMailServerUseSSL": True,
            "OutgoingMailServerUsername": address,
            "OutgoingMailServerAuthentication": "EmailAuthPassword",
            "OutgoingPasswordSameAsIncomingPassword": True,
        }),
        payload("com.apple.caldav.account", "caldav", {
            "CalDAVAccountDescription": f"{display} calendars",
            "CalDAVHostName": host,
            "CalDAVPort": ends.https,
            "CalDAVUseSSL": True,
            "CalDAVUsername": address,
            "CalDAVPrincipalURL": principal,
        }),
        payload("com.apple.carddav.account", "carddav", {
            "CardDAVAccountDescription": f"{display} contacts",
            "CardDAVHostName": host,
            "CardDAVPort": ends.https,
            "CardDAVUseSSL": True,
            "CardDAVUsername": address,
            "CardDAVPrincipalURL": principal,
        }),
    ]
    profile = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{base}.profile.{address}",
        "PayloadUUID": str(uuid.uuid5(_PROFILE_NAMESPACE, f"profile:{address}")).upper(),
        "PayloadDisplayName": f"{display}: mail, calendars and contacts",
        "PayloadDescription": f"Sets up {address} on this device.",
        "PayloadRemovalDisallowed": False,
        "PayloadContent": content,
    }
    if organization:
        # The issuer a phone shows when the profile is installed.
        profile["PayloadOrganization"] = organization
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML)
