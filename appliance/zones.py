"""Every DNS zone the box serves, built from the catalog and the business files.

* The box zone (``[box] domain``): SOA, NS, the box host name, and the
  mail records of every business's free domain under it
  (``<slug>.<box domain>``). A free domain under another parent (a fleet's
  ``[box] free_domain``) is a zone of its own, so it moves with its
  business from box to box like any other zone.
* Every zone names the same name servers (a fleet's, or the box's own
  ``ns1``/``ns2``); the addresses of those inside a zone served here are
  published there (glue). The SOA names the first of them as primary, not
  the box: a hidden primary is reached by its secondaries only, and
  checkers (Zonemaster) expect the SOA's primary to answer the public;
  the zone also reads the same whichever box of the fleet serves it.
* One zone per business domain, with the records mail and clients need:
  MX, SPF, DKIM, DMARC, ``autoconfig``/``autodiscover`` (and Outlook's
  ``_autodiscover._tcp`` SRV), SRV for RFC 6186 (mail) and RFC 6764
  (CalDAV/CardDAV) with the TXT path, CAA, and the apex and ``www``
  addresses of the website; MTA-STS and TLS-RPT
  (:func:`_mail_policies`, values from :mod:`appliance.mailpolicy`).
  MX and SRV name the domain's client host name (:func:`client_host`),
  with its addresses when it lies in the domain.
* The records each business added itself (:class:`CustomRecord`, checked by
  :func:`check_value` and :func:`check_record` before they are stored) and the transient ACME
  challenges, placed in the zone that holds their name.

A zone is plain data: ``{(name, type): [rdata text, ...]}`` with one TTL per
RRset, so the answer engine and tests can read it without a DNS library.
The SOA serial changes only when a zone's content changes
(:func:`assign_serials`).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Mapping

from . import fleet, mailpolicy
from .errors import Conflict, InvalidInput

TTL = 3600
NEGATIVE_TTL = 300
#: ACME DNS-01 (RFC 8555 section 8.4): TXT at ``_acme-challenge.<name>``.
CHALLENGE_LABEL = "_acme-challenge"
CHALLENGE_TTL = 60


@dataclass(frozen=True)
class BoxDns:
    hostname: str
    domain: str
    nameservers: tuple[str, ...]
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]
    admin_email: str
    #: CA domains allowed to issue for every zone (CAA ``issue``); empty: no CAA.
    caa: tuple[str, ...] = ()
    # Ports published in SRV records: the production ones by default.
    submission: int = 587
    submissions: int = 465
    imap: int = 143
    imaps: int = 993
    https: int = 443
    #: The MTA-STS policy of every mail domain (None: none published).
    mta_sts: mailpolicy.MtaSts | None = None
    #: Local part, at each mail domain, of the address reports go to; TLS
    #: reports always (when set), DMARC aggregate reports when ``dmarc_reports``.
    reports_local_part: str = ""
    dmarc_reports: bool = False
    #: Name of the catalog zone listing every zone (RFC 9432); "": none.
    catalog: str = ""
    #: How many times the catalog was announced (:func:`storage.box.announce_catalog`).
    catalog_announced: int = 0
    #: ``(name server, addresses)``: the glue published for a name server
    #: that lies in a zone served here.
    glue: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: TTL of the addresses the zones give for the box (the names a move
    #: or a new address changes): short, so clients follow within minutes.
    address_ttl: int = 300
    #: Label of each mail domain's client host name; "": ``hostname``.
    client_label: str = ""


@dataclass(frozen=True)
class BusinessDns:
    slug: str
    free_domain: str
    own_domains: tuple[str, ...]
    dkim: dict[str, tuple[str, str]] = field(default_factory=dict)  # domain -> (name, txt)
    records: tuple[CustomRecord, ...] = ()
    #: domain -> its DNSSEC keys (``storage.dnssec.SigningKey``), oldest first.
    dnssec_keys: dict[str, tuple] = field(default_factory=dict)
    #: name -> hash of the key its certificate holds (``appliance.tlsa``).
    tls_keys: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CustomRecord:
    """A record a business added (``appliance dns add``): absolute owner
    name, type, canonical value text (:func:`check_value`), TTL."""

    domain: str
    name: str
    type: str
    value: str
    ttl: int = TTL

    @property
    def rdata(self) -> str:
        return _quote(self.value) if self.type == "TXT" else self.value


@dataclass
class Zone:
    origin: str
    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    serial: int = 0
    #: TTL of each RRset that does not use :data:`TTL`.
    ttls: dict[tuple[str, str], int] = field(default_factory=dict)
    #: RRsets that hold records a business added (the rest are generated).
    custom: set[tuple[str, str]] = field(default_factory=set)
    #: Start of the DNSSEC signing period (``appliance.dnssec``); 0: unsigned.
    signing_period: int = 0

    def add(self, name: str, rtype: str, rdata: str, ttl: int = TTL) -> None:
        key = (name.lower().rstrip("."), rtype)
        values = self.records.setdefault(key, [])
        if rdata not in values:
            values.append(rdata)
        if ttl != TTL:
            self.ttls[key] = ttl

    def ttl(self, name: str, rtype: str) -> int:
        return self.ttls.get((name, rtype), TTL)

    def content_hash(self) -> str:
        body = {f"{n}|{t}|{self.ttl(n, t)}": sorted(v) for (n, t), v in self.records.items() if t != "SOA"}
        if self.signing_period:
            # New signatures are new content: the serial moves and the
            # secondaries transfer them. Unsigned zones hash as before.
            body["|signing period"] = [str(self.signing_period)]
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def soa(self, box: BoxDns) -> str:
        rname = box.admin_email.replace("@", ".", 1)
        return f"{box.nameservers[0]}. {rname}. {self.serial} 3600 900 1209600 {NEGATIVE_TTL}"

    def names(self) -> set[str]:
        return {name for name, _ in self.records}

    def cuts(self) -> set[str]:
        """Names below the origin with NS records: delegations."""
        return {name for name, rtype in self.records if rtype == "NS" and name != self.origin}


def _quote(text: str) -> str:
    # TXT strings are at most 255 octets each (RFC 1035 3.3.14): split long
    # values (DKIM keys) into several strings of one record.
    chunks = [text[i : i + 255] for i in range(0, len(text), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


def _addresses(zone: Zone, name: str, box: BoxDns) -> None:
    for a in box.ipv4:
        zone.add(name, "A", a, box.address_ttl)
    for a in box.ipv6:
        zone.add(name, "AAAA", a, box.address_ttl)


def client_host(box: BoxDns, domain: str) -> str:
    """The host name MX and SRV of ``domain`` name (see :mod:`appliance.fleet`)."""
    return fleet.host_for(box.client_label, box.hostname, domain)


def _mail_domain(zone: Zone, domain: str, box: BoxDns, dkim: tuple[str, str] | None) -> None:
    host = client_host(box, domain) + "."
    if box.client_label:
        _addresses(zone, host[:-1], box)
    zone.add(domain, "MX", f"10 {host}")
    zone.add(domain, "TXT", _quote("v=spf1 mx -all"))
    reports = f"{box.reports_local_part}@{domain}" if box.reports_local_part and box.dmarc_reports else None
    zone.add(f"_dmarc.{domain}", "TXT", _quote(mailpolicy.dmarc(reports)))
    if dkim is not None:
        name, txt = dkim
        zone.add(name, "TXT", _quote(txt))
    for label in ("", "www.", "autoconfig.", "autodiscover."):
        _addresses(zone, label + domain, box)
    srv = (
        ("_submission._tcp", box.submission),
        ("_submissions._tcp", box.submissions),
        ("_imap._tcp", box.imap),
        ("_imaps._tcp", box.imaps),
        ("_caldavs._tcp", box.https),
        ("_carddavs._tcp", box.https),
    )
    for service, port in srv:
        zone.add(f"{service}.{domain}", "SRV", f"0 1 {port} {host}")
    # RFC 6764 section 4: the context path of the DAV service.
    zone.add(f"_caldavs._tcp.{domain}", "TXT", _quote("path=/dav/"))
    zone.add(f"_carddavs._tcp.{domain}", "TXT", _quote("path=/dav/"))
    # RFC 6186 section 3.4: plain-text POP3 is not offered.
    zone.add(f"_pop3._tcp.{domain}", "SRV", "0 0 0 .")
    zone.add(f"_pop3s._tcp.{domain}", "SRV", "0 0 0 .")
    _mail_policies(zone, domain, box)
    _autodiscover_srv(zone, domain, box)


def _autodiscover_srv(zone: Zone, domain: str, box: BoxDns) -> None:
    """Outlook's last resort when ``autodiscover.<domain>`` does not answer
    ([MS-OXDSCLI] section 3.1.5.2): the host that serves autodiscover, on
    the public HTTPS port."""
    zone.add(f"_autodiscover._tcp.{domain}", "SRV", f"0 0 {box.https} autodiscover.{domain}.")


def _mail_policies(zone: Zone, domain: str, box: BoxDns) -> None:
    """MTA-STS (RFC 8461 section 3.1: the TXT record, and the address of
    the host that serves the policy) and TLS-RPT (RFC 8460 section 3)."""
    policy = mta_sts_policy(box, domain)
    if policy is not None:
        zone.add(f"_mta-sts.{domain}", "TXT", _quote(policy.txt()))
        _addresses(zone, f"{mailpolicy.POLICY_LABEL}.{domain}", box)
    if box.reports_local_part:
        zone.add(f"_smtp._tls.{domain}", "TXT", _quote(mailpolicy.tlsrpt(f"{box.reports_local_part}@{domain}")))


def mta_sts_policy(box: BoxDns, domain: str) -> mailpolicy.MtaSts | None:
    """The MTA-STS policy of ``domain``: the box's, naming the domain's own
    MX host when each domain has a client host name."""
    if box.mta_sts is None or not box.client_label:
        return box.mta_sts
    return dataclasses.replace(box.mta_sts, mx=(client_host(box, domain),))


def _glue(zones: Mapping[str, Zone], box: BoxDns) -> None:
    """The addresses of each name server that lies in a zone served here
    (RFC 1034 section 4.2.1: the parent must hold them to delegate to it)."""
    for name, addresses in box.glue:
        zone = zone_for(zones, name)
        if zone is None:
            continue
        for address in addresses:
            zone.add(name, "AAAA" if ":" in address else "A", address)


def _apex(zone: Zone, box: BoxDns) -> None:
    for ns in box.nameservers:
        zone.add(zone.origin, "NS", ns + ".")
    for issuer in box.caa:
        zone.add(zone.origin, "CAA", f'0 issue "{issuer}"')


def build_zones(
    box: BoxDns, businesses: list[BusinessDns], challenges: Mapping[str, tuple[str, ...]] | None = None
) -> dict[str, Zone]:
    """All zones, keyed by origin (serials not yet assigned).

    ``challenges`` maps a name to the ACME DNS-01 values published as TXT at
    ``_acme-challenge.<name>`` (names outside every zone are skipped).
    """
    zones: dict[str, Zone] = {}
    boxzone = Zone(box.domain)
    _apex(boxzone, box)
    _addresses(boxzone, box.hostname, box)
    zones[box.domain] = boxzone
    for business in businesses:
        free = business.free_domain
        if free and not _under(free, box.domain):
            zones[free] = Zone(free)
            _apex(zones[free], box)
        _mail_domain(zones.get(free, boxzone), free, box, business.dkim.get(free))
        for domain in business.own_domains:
            zone = Zone(domain)
            _apex(zone, box)
            _mail_domain(zone, domain, box, business.dkim.get(domain))
            zones[domain] = zone
    _glue(zones, box)
    for business in businesses:
        for record in business.records:
            zone = zone_for(zones, record.name)
            if zone is None:
                continue
            zone.add(record.name, record.type, record.rdata, record.ttl)
            zone.custom.add((record.name, record.type))
    for name, values in (challenges or {}).items():
        zone = zone_for(zones, name)
        if zone is not None:
            for value in values:
                zone.add(f"{CHALLENGE_LABEL}.{name}", "TXT", _quote(value), CHALLENGE_TTL)
    if box.catalog and box.catalog not in zones:  # a business's zone of that name is never replaced
        zones[box.catalog] = catalog_zone(box.catalog, list(zones), box.catalog_announced)
    return zones


# -- the catalog zone (RFC 9432) -------------------------------------------------

#: RFC 9432 section 4.2.1: the schema version this catalog follows.
CATALOG_VERSION = "2"


def member_id(origin: str) -> str:
    """The unique-id label of a member zone (RFC 9432 section 4.3.1): the
    SHA-1 of its name in lower-case wire format, in hex, as other catalog
    producers (PowerDNS) derive it. Stable for as long as the zone exists,
    so a secondary never sees a zone leave and come back under a new id
    (which would make it drop and transfer the zone again, section 5.3)."""
    wire = b"".join(bytes([len(label)]) + label.encode("ascii") for label in origin.lower().split(".")) + b"\x00"
    return hashlib.sha1(wire).hexdigest()  # noqa: S324 - a name, not a secret


def catalog_zone(name: str, members: list[str], announced: int = 0) -> Zone:
    """The catalog zone ``name`` listing ``members`` (RFC 9432 section 4):
    ``version`` TXT "2", one ``<id>.zones`` PTR per member zone, and the
    NS ``invalid.`` the RFC asks for (section 4.1: a catalog is not meant
    to be resolved). Its content, hence its serial, changes only when a
    zone comes or goes, or when it is announced again.

    ``announced`` (when not 0) is published as the custom property
    ``announced.ext`` TXT (section 4.4.3: consumers ignore what is under
    ``ext``). It changes when a business moved here from another box is
    handed over: a consumer without ``coo`` (section 5.6; Knot 3.2) ignores
    a member that another catalog still lists, and reads it again only when
    this catalog changes - so the other box drops it, and this one then
    changes its catalog (:meth:`appliance.services.moves.Moves.announce`)."""
    zone = Zone(name)
    zone.add(name, "NS", "invalid.")
    zone.add(f"version.{name}", "TXT", _quote(CATALOG_VERSION))
    if announced:
        zone.add(f"announced.ext.{name}", "TXT", _quote(str(announced)))
    for origin in sorted(members):
        if origin != name:
            zone.add(f"{member_id(origin)}.zones.{name}", "PTR", origin + ".")
    return zone


def zone_for(zones: Mapping[str, Zone], name: str) -> Zone | None:
    """The zone with the longest origin at or above ``name``."""
    candidate = name
    while candidate:
        if candidate in zones:
            return zones[candidate]
        candidate = candidate.partition(".")[2]
    return None


def assign_serials(zones: dict[str, Zone], previous: dict[str, tuple[str, int]], today: datetime.date | None = None) -> dict[str, tuple[str, int]]:
    """Give each zone a serial; returns the new ``{origin: (hash, serial)}``.

    A zone whose content hash is unchanged keeps its serial; a changed or new
    one gets ``max(previous + 1, YYYYMMDD00)`` (RFC 1912 section 2.2 style).
    """
    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    base = int(today.strftime("%Y%m%d")) * 100
    out = {}
    for origin, zone in zones.items():
        digest = zone.content_hash()
        old = previous.get(origin)
        if old and old[0] == digest:
            serial = old[1]
        else:
            serial = max((old[1] + 1) if old else 0, base)
        zone.serial = serial
        out[origin] = (digest, serial)
    return out


# -- the records a business adds ----------------------------------------------

#: What ``appliance dns add`` accepts.
RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS")
MIN_TTL, MAX_TTL = 60, 604_800
MAX_TXT = 4000
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_CAA_TAG = re.compile(r"^[a-z0-9]{1,15}$")
#: Names published for mail and client set-up: no record may be added there.
_MACHINERY = ("_dmarc", "autoconfig", "autodiscover", "_autodiscover._tcp", "_mta-sts", mailpolicy.POLICY_LABEL, "_smtp._tls")


def _host(value: str, what: str, origin: str) -> str:
    """A target host name, lower-case, absolute (trailing dot).

    One label without a dot is relative to ``origin`` (``www`` in
    ``example.com``); anything else is taken as a full name.
    """
    name = value.strip().lower()
    if name and "." not in name:
        name = f"{name}.{origin}"
    name = name.rstrip(".")
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise InvalidInput(f"invalid {what} {value!r}: expected a host name")
    return name + "."


def _number(text: str, what: str, hi: int) -> int:
    if not text.isdigit() or int(text) > hi:
        raise InvalidInput(f"invalid {what} {text!r}: expected 0-{hi}")
    return int(text)


def check_value(rtype: str, value: str, origin: str) -> str:
    """The canonical text of ``value`` for ``rtype``; InvalidInput when it is not valid.

    Host names in it are made absolute (see :func:`_host`)."""
    value = value.strip()
    if rtype == "A":
        try:
            return str(ipaddress.IPv4Address(value))
        except ValueError:
            raise InvalidInput(f"invalid A value {value!r}: expected an IPv4 address") from None
    if rtype == "AAAA":
        try:
            return str(ipaddress.IPv6Address(value))
        except ValueError:
            raise InvalidInput(f"invalid AAAA value {value!r}: expected an IPv6 address") from None
    if rtype in ("CNAME", "NS"):
        return _host(value, f"{rtype} target", origin)
    if rtype == "MX":
        parts = value.split()
        if len(parts) != 2:
            raise InvalidInput(f"invalid MX value {value!r}: expected 'PREFERENCE HOST'")
        # RFC 7505: "0 ." is the null MX.
        host = "." if parts[1] == "." else _host(parts[1], "MX host", origin)
        return f"{_number(parts[0], 'MX preference', 65535)} {host}"
    if rtype == "SRV":
        parts = value.split()
        if len(parts) != 4:
            raise InvalidInput(f"invalid SRV value {value!r}: expected 'PRIORITY WEIGHT PORT TARGET'")
        numbers = [_number(p, "SRV field", 65535) for p in parts[:3]]
        target = "." if parts[3] == "." else _host(parts[3], "SRV target", origin)
        return " ".join(map(str, numbers)) + " " + target
    if rtype == "CAA":
        match = re.fullmatch(r'(\d{1,3})\s+(\S+)\s+"?([\x21-\x7e ]*?)"?', value)
        if not match or int(match.group(1)) > 255 or not _CAA_TAG.match(match.group(2).lower()):
            raise InvalidInput(f"invalid CAA value {value!r}: expected 'FLAGS TAG \"VALUE\"' (RFC 8659)")
        if '"' in match.group(3) or "\\" in match.group(3):
            raise InvalidInput(f"invalid CAA value {value!r}: quotes and backslashes are not allowed inside the value")
        return f'{int(match.group(1))} {match.group(2).lower()} "{match.group(3)}"'
    if rtype == "TXT":
        if len(value) > MAX_TXT or any(not 32 <= ord(c) < 127 for c in value):
            raise InvalidInput(f"invalid TXT value: 0-{MAX_TXT} printable ASCII characters")
        return value
    raise InvalidInput(f"unsupported record type {rtype!r}: use one of {', '.join(RECORD_TYPES)}")


def owner_name(domain: str, name: str) -> str:
    """``name`` as given on the command line, made absolute under ``domain``.

    ``@`` is the domain itself; a name ending in a dot, or ending in the
    domain, is taken as written; anything else is relative to the domain.
    ``*`` may only be the leftmost label (a wildcard, RFC 4592).
    """
    raw = name.strip().lower()
    if raw in ("@", ""):
        full = domain
    elif raw.endswith(".") or raw == domain or raw.endswith("." + domain):
        full = raw.rstrip(".")
    else:
        full = f"{raw}.{domain}"
    labels = full.split(".")
    body = labels[1:] if labels[0] == "*" else labels
    if len(full) > 253 or not all(_HOST_LABEL.match(label) for label in body):
        raise InvalidInput(f"invalid name {name!r}")
    if full != domain and not full.endswith("." + domain):
        raise InvalidInput(f"{full} is not inside {domain}")
    return full


def _under(name: str, ancestor: str) -> bool:
    return name == ancestor or name.endswith("." + ancestor)


def check_record(zone: Zone, record: CustomRecord) -> None:
    """Refuse ``record`` if it would break ``zone`` (which does not hold it yet).

    No record may replace or sit among the generated mail and client records
    (MX, SPF, DKIM, DMARC, ``autoconfig``/``autodiscover``, SRV, ACME
    challenges), a CNAME shares its name with nothing and is never at a
    domain's apex (RFC 1034 section 3.6.2), and a delegation (NS below the
    apex) hides everything under it except the address records of its name
    servers (glue).
    """
    name, rtype, domain = record.name, record.type, record.domain
    key = (name, rtype)
    generated = {k for k in zone.records if k not in zone.custom}
    generated_names = {n for n, _ in generated}
    at = f"{rtype} at {name}"
    labels = name.split(".")
    if CHALLENGE_LABEL in labels:
        raise Conflict(f"{at}: {CHALLENGE_LABEL} names are managed by the box (ACME)")
    if name in generated_names and name not in (domain, f"www.{domain}"):
        raise Conflict(f"{at}: {name} is published by the box for mail and client set-up")
    if any(name == f"{label}.{domain}" for label in _MACHINERY):
        raise Conflict(f"{at}: {name} is published by the box for mail and client set-up")
    if rtype == "TXT" and name == domain and record.value.lower().startswith("v=spf1"):
        raise Conflict(f"{at}: the SPF record is generated by the box")
    if key in generated and not (rtype in ("TXT", "CAA") and name == domain):
        raise Conflict(f"{at} is generated by the box and cannot be replaced")
    if labels[0] == "*" and rtype == "NS":
        raise InvalidInput(f"{at}: a wildcard cannot be delegated (RFC 4592 section 4.2)")
    if record.value.rstrip(".") == name and rtype == "CNAME":
        raise InvalidInput(f"{at}: a CNAME cannot point at itself")
    others = {t for (n, t) in zone.records if n == name}
    if rtype == "CNAME":
        if name == domain:
            raise InvalidInput(f"{at}: a CNAME cannot be at the apex of {domain} (RFC 1034 section 3.6.2)")
        if others - {"CNAME"}:
            raise Conflict(f"{at}: the name already has {', '.join(sorted(others))} records; a CNAME shares its name with nothing")
        if "CNAME" in others:
            raise Conflict(f"{at}: the name already has a CNAME (only one is allowed)")
    elif "CNAME" in others:
        raise Conflict(f"{at}: the name has a CNAME, which shares its name with nothing")
    cuts = zone.cuts()
    if rtype == "NS":
        if name == domain:
            raise Conflict(f"{at}: the name servers of {domain} are the box's")
        if any(_under(n, name) for n in generated_names):
            raise Conflict(f"{at}: the delegation would hide records the box publishes under {name}")
        if others - {"NS"}:
            raise Conflict(f"{at}: a delegated name holds only NS records (it has {', '.join(sorted(others))})")
        below = {t for (n, t) in zone.records if n != name and _under(n, name)}
        if below - {"A", "AAAA"}:
            raise Conflict(f"{at}: names under {name} have records other than glue addresses")
    for cut in cuts:
        if cut == name and rtype != "NS":
            raise Conflict(f"{at}: {name} is delegated; it holds only NS records")
        if cut != name and _under(name, cut) and rtype not in ("A", "AAAA"):
            raise Conflict(f"{at}: {name} is inside the delegation {cut}; only glue addresses may be added there")
