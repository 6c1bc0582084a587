"""Answers from the zones (RFC 1034 4.3.2, RFC 2308, RFC 6891, RFC 8482).

:class:`Engine` holds the loaded zones and a cache of finished answers as
wire bytes, keyed by what changes an answer (name, type, class, EDNS, the
size limit). A cached answer is patched with the query's ID, its RD bit and
the letter case of its name (the question sits uncompressed at offset 12, so
the bytes line up). In front of it, :attr:`Engine.packets` maps the bytes of
a UDP query after its ID to the bytes of its answer after the ID: a query
seen before (same flags, name in the same case, same OPT) is answered with
one lookup, before any parsing (its bytes passed the checks of
:mod:`.wire` the first time, and identical bytes pass them identically).

Names never asked before (a flood of random subdomains) miss both caches.
A plain negative answer (NXDOMAIN or NODATA with the SOA, REFUSED outside
our zones) is then not packed but taken from its zone's template
(:mod:`.negative`) and never cached. And once a UDP query got NXDOMAIN or
REFUSED, :meth:`Engine.quick_negative` answers any query that differs from
it only by ID and first label - a label naming nothing below the same
parent - straight from the template, before any parsing.
Loading new zones swaps the whole state at once and drops every cache.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import bisect

import dns.rdata
import dns.rdataclass
import dns.rdatatype
from dnslib import EDNS0, QTYPE, RCODE, RD, RR, DNSHeader, DNSQuestion, DNSRecord

from appliance.dnssec import SignedZone, canonical_key
from appliance.zones import NEGATIVE_TTL, BoxDns, Zone

from .negative import Template
from .wire import Query

log = logging.getLogger(__name__)

#: Our UDP answers never exceed this (the DNS flag day 2020 value).
MAX_UDP_PAYLOAD = 1232
#: Cached answers; past this the cache is cleared (a query flood of random
#: names must not grow memory without bound).
CACHE_LIMIT = 50_000
#: The query-bytes cache (:attr:`Engine.packets`): fewer entries, and only
#: queries up to this size (a question and a plain OPT), so its memory stays
#: bounded (about 20 MB at worst) whatever EDNS options clients send.
PACKET_LIMIT = 10_000
PACKET_QUERY_MAX = 512
MAX_CNAME_CHAIN = 8
TYPE_AXFR = 252
TYPE_IXFR = 251
TYPE_ANY = 255
CLASS_IN = 1
BADVERS = 16


@dataclass
class _LoadedZone:
    origin: str
    rrsets: dict[tuple[str, int], list[RR]]
    names: set[str]
    soa: RR
    soa_negative: RR
    cuts: set[str]
    source: Zone
    serial: int
    soa_text: str
    #: (rcode, EDNS) -> the zone's negative answer template (:mod:`.negative`).
    negatives: dict[tuple[int, bool], Template]
    #: name -> the first labels (ASCII bytes) of the names directly below it.
    children: dict[str, set[bytes]]
    #: The zone's DNSSEC records, None when it is served unsigned:
    #: (owner, type) -> RRSIG records of that RRset.
    sigs: dict[tuple[str, int], list[RR]] | None = None
    #: owner -> its NSEC record; the owners in canonical order, and their sort keys.
    nsec: dict[str, RR] | None = None
    nsec_owners: list[str] | None = None
    nsec_keys: list[tuple[bytes, ...]] | None = None
    signed_source: SignedZone | None = None

    def covering(self, name: str) -> str:
        """The owner of the NSEC that covers ``name`` (or is at it): the
        last owner of the chain not after ``name`` in canonical order
        (RFC 4034 section 6.1); the origin comes first, so there is one."""
        assert self.nsec_keys is not None and self.nsec_owners is not None
        return self.nsec_owners[max(bisect.bisect_right(self.nsec_keys, canonical_key(name)) - 1, 0)]


#: Types dnslib cannot read from text: packed by dnspython, kept as raw rdata.
_RAW_TYPES = frozenset({"DNSKEY", "CDS", "CDNSKEY", "DS", "RRSIG", "NSEC"})


def _raw(name: str, rtype: int, ttl: int, rdata: dns.rdata.Rdata) -> RR:
    """A record whose rdata is dnspython's wire form, uncompressed (RFC 3597
    section 4: the names in newer types' rdata are never compressed)."""
    return RR(name + ".", rtype, 1, ttl, RD(rdata.to_wire()))


def _load(zone: Zone, box: BoxDns, signed: SignedZone | None = None) -> _LoadedZone:
    rrsets: dict[tuple[str, int], list[RR]] = {}
    records = dict(zone.records)
    records[(zone.origin, "SOA")] = [zone.soa(box)]
    for (name, rtype), values in records.items():
        rrs = []
        ttl = zone.ttl(name, rtype)
        if rtype in _RAW_TYPES:
            number = dns.rdatatype.from_text(rtype)
            for value in values:
                rrs.append(_raw(name, number, ttl, dns.rdata.from_text(dns.rdataclass.IN, number, value)))
            rrsets[(name, number)] = rrs
            continue
        for value in values:
            rrs.extend(RR.fromZone(f"{name}. {ttl} IN {rtype} {value}"))
        rrsets[(name, getattr(QTYPE, rtype))] = rrs
    soa = rrsets[(zone.origin, QTYPE.SOA)][0]
    # RFC 2308 section 3: the SOA in a negative answer carries the minimum
    # of its TTL and its MINIMUM field.
    negative = RR(soa.rname, QTYPE.SOA, ttl=min(NEGATIVE_TTL, soa.ttl), rdata=soa.rdata)
    names = set(zone.names()) | {zone.origin}
    # Every ancestor of a name, up to the origin, exists (an empty
    # non-terminal answers NODATA, not NXDOMAIN: RFC 8020).
    for name in list(names):
        parts = name.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[i:])
            if parent == zone.origin or parent.endswith("." + zone.origin):
                names.add(parent)
    templates = {
        (rcode, edns): Template(zone.origin, rcode, negative, edns, MAX_UDP_PAYLOAD)
        for rcode in (RCODE.NOERROR, RCODE.NXDOMAIN)
        for edns in (False, True)
    }
    children: dict[str, set[bytes]] = {}
    for name in names:
        if name != zone.origin:
            label, _, parent = name.partition(".")
            children.setdefault(parent, set()).add(label.encode("latin-1"))
    loaded = _LoadedZone(zone.origin, rrsets, names, soa, negative, zone.cuts(), zone, zone.serial, zone.soa(box),
                         templates, children)
    if signed is not None and signed.serial == zone.serial:
        sigs: dict[tuple[str, int], list[RR]] = {}
        for (name, rtype), rdatas in signed.rrsigs.items():
            number = dns.rdatatype.from_text(rtype)
            ttl = signed.nsec_ttl if rtype == "NSEC" else zone.ttl(name, rtype)
            sigs[(name, number)] = [_raw(name, QTYPE.RRSIG, ttl, r) for r in rdatas]
        nsec = {name: _raw(name, QTYPE.NSEC, signed.nsec_ttl, r) for name, r in signed.nsec.items()}
        owners = sorted(nsec, key=canonical_key)
        for name, rr in nsec.items():
            rrsets[(name, QTYPE.NSEC)] = [rr]
        loaded.sigs, loaded.nsec, loaded.nsec_owners = sigs, nsec, owners
        loaded.nsec_keys = [canonical_key(n) for n in owners]
        loaded.signed_source = signed
    return loaded


@dataclass(frozen=True)
class _Shortcut:
    """Negative answers for every query like one seen, but for its first
    label (see :meth:`Engine.quick_negative`)."""

    template: Template
    rd: bool
    #: First labels (lower case) that must take the full path.
    excluded: frozenset[bytes]
    #: Octets of the query name after its first label; the answer's limit.
    rest_name: int
    limit: int


#: REFUSED for a name outside our zones, without and with EDNS.
_REFUSED = {edns: Template("", RCODE.REFUSED, None, edns, MAX_UDP_PAYLOAD) for edns in (False, True)}


@dataclass(frozen=True)
class Prepared:
    """Zones ready for :meth:`Engine.install`."""

    zones: dict[str, _LoadedZone]
    origins_below: dict[str, set[bytes]]


def prepare(zones: dict[str, Zone], box: BoxDns, signed: dict[str, SignedZone] | None = None) -> Prepared:
    """Turn ``zones`` (and the signatures of those ``signed``) into what the
    engine answers from. Pure and slow with many zones: any thread may run
    it (the DNS service runs it in one)."""
    signed = signed or {}
    loaded = {origin: _load(zone, box, signed.get(origin)) for origin, zone in zones.items()}
    below: dict[str, set[bytes]] = {}
    for origin in loaded:
        label, _, parent = origin.partition(".")
        below.setdefault(parent, set()).add(label.encode("latin-1"))
    return Prepared(loaded, below)


class Engine:
    def __init__(self) -> None:
        self._zones: dict[str, _LoadedZone] = {}
        #: name -> the first labels of the zone origins directly below it.
        self._origins_below: dict[str, set[bytes]] = {}
        self._cache: dict[tuple, bytes] = {}
        #: UDP query bytes after the ID -> answer bytes after the ID.
        self.packets: dict[bytes, bytes] = {}
        #: UDP query bytes 2-12 and after the first label -> :class:`_Shortcut`.
        self.shortcuts: dict[bytes, _Shortcut] = {}
        self.hits = 0
        self.misses = 0
        #: Answers sent from a negative template (never cached: see :meth:`answer`).
        self.negatives = 0

    def load(self, zones: dict[str, Zone], box: BoxDns) -> None:
        """Replace every zone at once and drop the answer cache."""
        self.install(prepare(zones, box))

    def install(self, prepared: Prepared) -> None:
        """Replace every zone with those :func:`prepare` made, at once, and
        drop the answer cache. Cheap: the event loop calls it."""
        loaded, below = prepared.zones, prepared.origins_below
        self._zones, self._origins_below = loaded, below
        self._cache, self.packets, self.shortcuts = {}, {}, {}
        log.info("loaded %d zones", len(loaded))

    def zone(self, origin: str) -> _LoadedZone | None:
        """The loaded zone whose origin is exactly ``origin``."""
        return self._zones.get(origin)

    def origins(self) -> list[str]:
        return list(self._zones)

    def zones_items(self) -> list[tuple[str, _LoadedZone]]:
        return list(self._zones.items())

    def zone_for(self, name: str) -> _LoadedZone | None:
        """The zone with the longest origin that contains ``name``."""
        candidate = name
        while True:
            zone = self._zones.get(candidate)
            if zone is not None:
                return zone
            if not candidate:
                return None
            candidate = candidate.partition(".")[2]

    def answer(self, query: Query, *, tcp: bool) -> bytes:
        limit = 65535 if tcp else (min(query.payload, MAX_UDP_PAYLOAD) if query.edns else 512)
        key = (query.qname, query.qtype, query.qclass, query.edns and query.edns_version == 0, query.edns, limit, query.do)
        wire = self._cache.get(key)
        if wire is None:
            # A name never asked is most likely a negative answer: from its
            # zone's template, so a flood of random names neither packs an
            # answer per name nor churns the cache.
            fast = self._negative(query, limit)
            if fast is not None:
                self.negatives += 1
                return fast
            self.misses += 1
            wire = self._build(query, limit)
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = wire
        else:
            self.hits += 1
        return _patch(wire, query)

    def remember(self, data: bytes, reply: bytes) -> None:
        """Keep ``reply`` as the answer to the plain UDP query ``data``
        (which :meth:`answer` just answered); see :attr:`packets`."""
        if len(data) > PACKET_QUERY_MAX:
            return
        packets = self.packets
        if len(packets) >= PACKET_LIMIT:
            packets.clear()
        packets[data[2:]] = reply[2:]

    def quick_negative(self, data: bytes) -> bytes | None:
        """The answer to the UDP query ``data`` if it differs from a query
        :meth:`learn` took only by its ID and first label and that label
        names nothing (the random-subdomain pattern): the same negative
        answer, from the template, without parsing. None otherwise.

        The bytes after the first label, the flags and the counts are the
        learnt query's, which passed :func:`.wire.parse_query`; a first
        label of 1-63 octets without a dot, in a name of at most 255, keeps
        it valid, and one that is not below the parent (nor an origin, nor a
        name the SOA compresses against) gets the same answer."""
        if len(data) < 14:
            return None
        first = data[12]
        if not 0 < first < 64:
            return None
        rest = 13 + first
        shortcut = self.shortcuts.get(data[2:12] + data[rest:])
        if shortcut is None or first + shortcut.rest_name > 254:
            return None
        label = data[13:rest].lower()
        if label in shortcut.excluded or b"." in label:
            return None
        reply = shortcut.template.reply(data[:2], shortcut.rd, data[12 : rest + shortcut.rest_name + 4])
        return reply if len(reply) <= shortcut.limit else None

    def learn(self, data: bytes, query: Query) -> None:
        """After :meth:`answer` answered the UDP query ``data``: if that was
        an NXDOMAIN or REFUSED from a template, let :meth:`quick_negative`
        answer its siblings (bounded like :attr:`packets`)."""
        qname = query.qname
        if "." not in qname or len(data) > PACKET_QUERY_MAX or (query.edns and query.edns_version):
            return
        first = data[12]
        key = data[2:12] + data[13 + first :]
        if key in self.shortcuts or b"." in data[13 : 13 + first]:
            return
        parent = qname.partition(".")[2]
        zone = self.zone_for(qname)
        if query.qclass != CLASS_IN:
            template, excluded = _REFUSED[query.edns], set()
        elif zone is None:
            # Zones whose origin is a sibling answer for themselves.
            template, excluded = _REFUSED[query.edns], set(self._origins_below.get(parent, ()))
        else:
            if (query.do and zone.sigs is not None) or _plain_negative(zone, qname, query.qtype) != RCODE.NXDOMAIN:
                return
            template = zone.negatives[(RCODE.NXDOMAIN, query.edns)]
            if not template.usable(qname):
                return
            excluded = set(self._origins_below.get(parent, ())) | zone.children.get(parent, set())
            for child in template.blocked:
                if child.partition(".")[2] == parent:
                    excluded.add(child.partition(".")[0].encode("latin-1"))
                elif parent == child or parent.endswith("." + child):
                    return
        limit = min(query.payload, MAX_UDP_PAYLOAD) if query.edns else 512
        if len(self.shortcuts) >= PACKET_LIMIT:
            self.shortcuts.clear()
        self.shortcuts[key] = _Shortcut(template, query.rd, frozenset(excluded), len(query.qname_wire) - 1 - first, limit)

    def _negative(self, query: Query, limit: int) -> bytes | None:
        """The answer from a template of :mod:`.negative` when it is a plain
        REFUSED, NXDOMAIN or NODATA; None when :meth:`_build` must pack it
        (anything else, BADVERS, a query the template would compress
        differently, an answer over ``limit``). Same bytes as ``_build``."""
        if query.edns and query.edns_version:
            return None
        zone = self.zone_for(query.qname)
        if zone is None or query.qclass != CLASS_IN:
            template = _REFUSED[query.edns]
        else:
            if query.do and zone.sigs is not None:
                return None  # signed denial (NSEC): packed by _build, then cached
            rcode = _plain_negative(zone, query.qname, query.qtype)
            if rcode is None:
                return None
            template = zone.negatives[(rcode, query.edns)]
            if template.blocked and not template.usable(query.qname):
                return None
        question = query.qname_wire + query.qtype.to_bytes(2, "big") + query.qclass.to_bytes(2, "big")
        reply = template.reply(query.qid.to_bytes(2, "big"), query.rd, question)
        return reply if len(reply) <= limit else None

    def _build(self, query: Query, limit: int) -> bytes:
        header = DNSHeader(id=0, qr=1, aa=0, ra=0)
        response = DNSRecord(header, q=DNSQuestion(query.qname + ".", query.qtype, query.qclass))
        zone = self.zone_for(query.qname)
        # RFC 3225 section 3: the DO bit is copied into the answer (for the
        # zones we sign; unsigned ones answer as the templates do).
        dnssec = query.do and query.edns and zone is not None and zone.sigs is not None and query.qclass == CLASS_IN
        edns_flags = "do" if dnssec else ""
        if query.edns:
            response.add_ar(EDNS0(udp_len=MAX_UDP_PAYLOAD, flags=edns_flags))
            if query.edns_version > 0:
                # RFC 6891 6.1.3: BADVERS is an extended RCODE (16): the
                # upper bits go in the OPT record, the lower in the header.
                response.ar[0].ttl = (BADVERS >> 4) << 24
                header.rcode = BADVERS & 0xF
                return response.pack()
        if zone is None or query.qclass != CLASS_IN:
            header.rcode = RCODE.REFUSED
            return response.pack()
        header.aa = 1
        self._resolve(response, zone, query.qname, query.qtype, bool(dnssec))
        wire = response.pack()
        if len(wire) > limit:
            # Too big for UDP: the question (and OPT) with TC set, so the
            # client retries over TCP (RFC 7766). dnslib's truncate() would
            # drop the question too.
            truncated = DNSRecord(DNSHeader(id=0, qr=1, aa=header.aa, ra=0, tc=1), q=response.q)
            if query.edns:
                truncated.add_ar(EDNS0(udp_len=MAX_UDP_PAYLOAD, flags=edns_flags))
            wire = truncated.pack()
        return wire

    def _resolve(self, response: DNSRecord, zone: _LoadedZone, name: str, qtype: int, do: bool = False) -> None:
        """The answer for ``name``/``qtype``; with ``do``, the RRSIGs and
        NSEC proofs of signed zones too (RFC 4035 section 3.1)."""
        seen: set[str] = set()
        for _ in range(MAX_CNAME_CHAIN):
            seen.add(name)
            dnssec = do and zone.sigs is not None
            cut = _cut_above(zone, name, qtype)
            if cut is not None:
                _referral(response, zone, cut, dnssec)
                return
            rrsets_name = _owner(zone, name)
            if rrsets_name is None:
                response.header.rcode = RCODE.NXDOMAIN
                response.add_auth(zone.soa_negative)
                if dnssec:
                    # RFC 4035 section 3.1.3.2: no such name, and no wildcard
                    # at the closest encloser.
                    _negative_soa_sig(response, zone)
                    encloser = name.partition(".")[2]
                    while encloser not in zone.names:
                        encloser = encloser.partition(".")[2]
                    _add_nsec(response, zone, zone.covering(name), zone.covering("*." + encloser))
                return
            synthesized = name if rrsets_name != name else None
            if qtype == TYPE_ANY:
                # RFC 8482 section 4.2: answer ANY with one RRset rather than all.
                for (rr_owner, _type), rrs in sorted(zone.rrsets.items(), key=lambda kv: kv[0][1]):
                    if rr_owner == rrsets_name:
                        _add_answers(response, rrs, synthesized)
                        if dnssec:
                            _add_signed(response, zone, rrsets_name, _type, synthesized)
                        return
                response.add_auth(zone.soa_negative)
                return
            rrs = zone.rrsets.get((rrsets_name, qtype))
            if rrs:
                _add_answers(response, rrs, synthesized)
                if dnssec:
                    _add_signed(response, zone, rrsets_name, qtype, synthesized)
                return
            cname = zone.rrsets.get((rrsets_name, QTYPE.CNAME))
            if not cname or qtype == QTYPE.CNAME:
                response.add_auth(zone.soa_negative)  # NODATA
                if dnssec:
                    # RFC 4035 section 3.1.3.1 (3.1.3.4 for a wildcard): the
                    # NSEC of the owner shows the type absent; an empty
                    # non-terminal has none, the one covering it proves it.
                    _negative_soa_sig(response, zone)
                    owners = [rrsets_name if rrsets_name in zone.nsec else zone.covering(rrsets_name)]
                    if synthesized is not None:
                        owners.append(zone.covering(name))
                    _add_nsec(response, zone, *owners)
                return
            _add_answers(response, cname, synthesized)
            if dnssec:
                _add_signed(response, zone, rrsets_name, QTYPE.CNAME, synthesized)
            target = str(cname[0].rdata.label).rstrip(".").lower()
            inner = self.zone_for(target)
            # RFC 1034 section 4.3.2 step 3a: follow the chain while it stays
            # in our zones; a loop ends where it would repeat.
            if inner is None or target in seen:
                return
            zone, name = inner, target


def _plain_negative(zone: _LoadedZone, name: str, qtype: int) -> int | None:
    """NXDOMAIN or NOERROR when :meth:`Engine._resolve` would answer ``name``
    with the zone's SOA alone (no delegation, no wildcard or CNAME record
    to give, not ANY); None otherwise. Its first step, without packing."""
    if qtype == TYPE_ANY or (zone.cuts and _cut_above(zone, name, qtype) is not None):
        return None
    owner = _owner(zone, name)
    if owner is None:
        return RCODE.NXDOMAIN
    rrsets = zone.rrsets
    if rrsets.get((owner, qtype)) or (qtype != QTYPE.CNAME and rrsets.get((owner, QTYPE.CNAME))):
        return None
    return RCODE.NOERROR


def _add_answers(response: DNSRecord, rrs: list[RR], synthesized_owner: str | None) -> None:
    for rr in rrs:
        if synthesized_owner is not None:
            # RFC 4592 section 2.1: a wildcard's records answer with the
            # query name as their owner.
            rr = RR(synthesized_owner + ".", rr.rtype, rr.rclass, rr.ttl, rr.rdata)
        response.add_answer(rr)


def _owner(zone: _LoadedZone, name: str) -> str | None:
    """Whose records answer for ``name``: the name itself when it exists
    (empty non-terminals too), else the closest encloser's wildcard (RFC
    4592 section 3.3.1), else None (NXDOMAIN). ``name`` is inside ``zone``,
    so the walk ends at the origin at the latest."""
    if name in zone.names:
        return name
    encloser = name.partition(".")[2]
    while encloser not in zone.names:
        encloser = encloser.partition(".")[2]
    wildcard = "*." + encloser
    return wildcard if wildcard in zone.names else None


def _cut_above(zone: _LoadedZone, name: str, qtype: int) -> str | None:
    """The delegation at or above ``name``, if any (the parent side answers
    DS at the cut itself: RFC 4035 section 3.1.4.1)."""
    if not zone.cuts:
        return None
    candidate = name
    while candidate != zone.origin and candidate:
        if candidate in zone.cuts and not (candidate == name and qtype == QTYPE.DS):
            return candidate
        candidate = candidate.partition(".")[2]
    return None


def _add_signed(response: DNSRecord, zone: _LoadedZone, owner: str, rtype: int, synthesized: str | None) -> None:
    """The RRSIGs of the RRset just answered; for a wildcard's, the NSEC
    that proves the query name itself does not exist (RFC 4035 3.1.3.3)."""
    assert zone.sigs is not None
    _add_answers(response, zone.sigs.get((owner, rtype), ()), synthesized)
    if synthesized is not None:
        _add_nsec(response, zone, zone.covering(synthesized))


def _negative_soa_sig(response: DNSRecord, zone: _LoadedZone) -> None:
    assert zone.sigs is not None
    for rr in zone.sigs.get((zone.origin, QTYPE.SOA), ()):
        # The negative SOA's TTL (RFC 2308 section 3); the signature keeps
        # the original TTL inside it, which validators check against.
        response.add_auth(RR(rr.rname, rr.rtype, rr.rclass, zone.soa_negative.ttl, rr.rdata))


def _add_nsec(response: DNSRecord, zone: _LoadedZone, *owners: str) -> None:
    """The NSEC records of ``owners`` (each once) with their RRSIGs, in
    the authority section."""
    assert zone.nsec is not None and zone.sigs is not None
    done: set[str] = set()
    for owner in owners:
        if owner in done:
            continue
        done.add(owner)
        response.add_auth(zone.nsec[owner])
        for rr in zone.sigs.get((owner, QTYPE.NSEC), ()):
            response.add_auth(rr)


def _referral(response: DNSRecord, zone: _LoadedZone, cut: str, dnssec: bool = False) -> None:
    """RFC 1034 section 4.3.2 step 3b: NS of the cut in authority, the
    addresses of name servers inside our zone as glue, AA clear. Signed,
    the NSEC at the cut proves the child has no DS (an insecure
    delegation, RFC 4035 section 3.1.4)."""
    response.header.aa = 0
    ns = zone.rrsets[(cut, QTYPE.NS)]
    for rr in ns:
        response.add_auth(rr)
    if dnssec:
        _add_nsec(response, zone, cut)
    for rr in ns:
        host = str(rr.rdata.label).rstrip(".").lower()
        if host == zone.origin or host.endswith("." + zone.origin):
            for rtype in (QTYPE.A, QTYPE.AAAA):
                for glue in zone.rrsets.get((host, rtype), ()):
                    response.add_ar(glue)


def _patch(wire: bytes, query: Query) -> bytes:
    qlen = len(query.qname_wire)
    out = bytearray(wire)
    out[0:2] = query.qid.to_bytes(2, "big")
    out[2] = (out[2] & ~0x01) | (1 if query.rd else 0)
    out[12 : 12 + qlen] = query.qname_wire
    return bytes(out)
