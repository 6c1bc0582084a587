"""Answers from the zones (RFC 1034 4.3.2, RFC 2308, RFC 6891, RFC 8482).

:class:`Engine` holds the loaded zones and a cache of finished answers as
wire bytes, keyed by what changes an answer (name, type, class, EDNS, the
size limit). A cached answer is patched with the query's ID, its RD bit and
the letter case of its name (the question sits uncompressed at offset 12, so
the bytes line up). Loading new zones swaps the whole state at once and
drops the cache.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dnslib import EDNS0, QTYPE, RCODE, RR, DNSHeader, DNSQuestion, DNSRecord

from appliance.zones import NEGATIVE_TTL, TTL, BoxDns, Zone

from .wire import Query

log = logging.getLogger(__name__)

#: Our UDP answers never exceed this (the DNS flag day 2020 value).
MAX_UDP_PAYLOAD = 1232
#: Cached answers; past this the cache is cleared (a query flood of random
#: names must not grow memory without bound).
CACHE_LIMIT = 50_000
MAX_CNAME_CHAIN = 8
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


def _load(zone: Zone, box: BoxDns) -> _LoadedZone:
    rrsets: dict[tuple[str, int], list[RR]] = {}
    records = dict(zone.records)
    records[(zone.origin, "SOA")] = [zone.soa(box)]
    for (name, rtype), values in records.items():
        rrs = []
        for value in values:
            rrs.extend(RR.fromZone(f"{name}. {TTL} IN {rtype} {value}"))
        rrsets[(name, getattr(QTYPE, rtype))] = rrs
    soa = rrsets[(zone.origin, QTYPE.SOA)][0]
    negative = RR(soa.rname, QTYPE.SOA, ttl=NEGATIVE_TTL, rdata=soa.rdata)
    names = set(zone.names()) | {zone.origin}
    # Every ancestor of a name, up to the origin, exists (an empty
    # non-terminal answers NODATA, not NXDOMAIN: RFC 8020).
    for name in list(names):
        parts = name.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[i:])
            if parent == zone.origin or parent.endswith("." + zone.origin):
                names.add(parent)
    return _LoadedZone(zone.origin, rrsets, names, soa, negative)


class Engine:
    def __init__(self) -> None:
        self._zones: dict[str, _LoadedZone] = {}
        self._cache: dict[tuple, bytes] = {}
        self.hits = 0
        self.misses = 0

    def load(self, zones: dict[str, Zone], box: BoxDns) -> None:
        """Replace every zone at once and drop the answer cache."""
        loaded = {origin: _load(zone, box) for origin, zone in zones.items()}
        self._zones, self._cache = loaded, {}
        log.info("loaded %d zones", len(loaded))

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
        key = (query.qname, query.qtype, query.qclass, query.edns and query.edns_version == 0, query.edns, limit)
        wire = self._cache.get(key)
        if wire is None:
            self.misses += 1
            wire = self._build(query, limit)
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = wire
        else:
            self.hits += 1
        return _patch(wire, query)

    def _build(self, query: Query, limit: int) -> bytes:
        header = DNSHeader(id=0, qr=1, aa=0, ra=0)
        response = DNSRecord(header, q=DNSQuestion(query.qname + ".", query.qtype, query.qclass))
        if query.edns:
            response.add_ar(EDNS0(udp_len=MAX_UDP_PAYLOAD))
            if query.edns_version > 0:
                # RFC 6891 6.1.3: BADVERS is an extended RCODE (16): the
                # upper bits go in the OPT record, the lower in the header.
                response.ar[0].ttl = (BADVERS >> 4) << 24
                header.rcode = BADVERS & 0xF
                return response.pack()
        zone = self.zone_for(query.qname)
        if zone is None or query.qclass != CLASS_IN:
            header.rcode = RCODE.REFUSED
            return response.pack()
        header.aa = 1
        self._resolve(response, zone, query.qname, query.qtype)
        wire = response.pack()
        if len(wire) > limit:
            # Too big for UDP: the question (and OPT) with TC set, so the
            # client retries over TCP (RFC 7766). dnslib's truncate() would
            # drop the question too.
            truncated = DNSRecord(DNSHeader(id=0, qr=1, aa=1, ra=0, tc=1), q=response.q)
            if query.edns:
                truncated.add_ar(EDNS0(udp_len=MAX_UDP_PAYLOAD))
            wire = truncated.pack()
        return wire

    def _resolve(self, response: DNSRecord, zone: _LoadedZone, name: str, qtype: int) -> None:
        for _ in range(MAX_CNAME_CHAIN):
            if name not in zone.names:
                response.header.rcode = RCODE.NXDOMAIN
                response.add_auth(zone.soa_negative)
                return
            if qtype == TYPE_ANY:
                # RFC 8482: answer ANY with one RRset rather than all.
                for (owner, _type), rrs in sorted(zone.rrsets.items(), key=lambda kv: kv[0][1]):
                    if owner == name:
                        for rr in rrs:
                            response.add_answer(rr)
                        return
                response.add_auth(zone.soa_negative)
                return
            rrs = zone.rrsets.get((name, qtype))
            if rrs:
                for rr in rrs:
                    response.add_answer(rr)
                return
            cname = zone.rrsets.get((name, QTYPE.CNAME))
            if not cname:
                response.add_auth(zone.soa_negative)  # NODATA
                return
            response.add_answer(cname[0])
            target = str(cname[0].rdata.label).rstrip(".").lower()
            inner = self.zone_for(target)
            if inner is None:
                return
            zone, name = inner, target


def _patch(wire: bytes, query: Query) -> bytes:
    qlen = len(query.qname_wire)
    out = bytearray(wire)
    out[0:2] = query.qid.to_bytes(2, "big")
    out[2] = (out[2] & ~0x01) | (1 if query.rd else 0)
    out[12 : 12 + qlen] = query.qname_wire
    return bytes(out)
