"""Negative answers built once, sent to any name (RFC 2308, RFC 8020).

A flood of random never-asked names (the random-subdomain pattern) makes
every query a cache miss. Yet all NXDOMAIN (and NODATA) answers of one zone
are the same bytes after the question: the header flags, the zone's SOA in
the authority section and the OPT record. :class:`Template` holds those
bytes, packed once by dnslib with the zone's origin as the question, and
:meth:`Template.reply` puts the query's ID, RD bit and question (letter case
as sent) in front of them.

The one subtlety is name compression: the SOA's owner (and the origin inside
its MNAME and RNAME) are pointers into the question, where the origin ends
it. A query name ``P`` octets longer than the origin moves the origin, and
everything after the question, ``P`` octets further: every pointer of the
template gains ``P``. That is exact only if no SOA name compresses against
the labels the query adds above the origin (``hostmaster.example`` asked
itself would make the whole RNAME one pointer): :meth:`Template.usable`
says when, and otherwise the caller packs the answer the slow way.
Templates for REFUSED (a name outside our zones) have no names after the
question at all.
"""

from __future__ import annotations

from dnslib import EDNS0, RR, DNSHeader, DNSQuestion, DNSRecord

#: Tails kept per template, one per query-name length difference (a name is
#: at most 255 octets, so this bounds memory whatever the names).
MAX_TAILS = 256


def _skip_name(wire: bytes, pos: int, pointers: list[int]) -> int:
    """Offset past the (possibly compressed) name at ``pos``; the offset of
    its pointer, if it ends in one, is appended to ``pointers``."""
    while True:
        length = wire[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            pointers.append(pos)
            return pos + 2
        pos += 1 + length


def _wire_length(name: str) -> int:
    """Octets of ``name`` (dotted, no trailing dot) uncompressed on the wire."""
    return len(name) + 2 if name else 1


class Template:
    """One negative answer with the question cut out.

    ``rcode`` 3 is NXDOMAIN, 0 NODATA (both with ``soa`` in the authority
    section), 5 REFUSED (``soa`` None, ``origin`` ignored). ``edns`` adds
    our OPT record (payload 1232, version 0, no flags), as the slow path
    does for any query that carried one."""

    __slots__ = ("origin_length", "heads", "tail", "pointers", "tails", "blocked")

    def __init__(self, origin: str, rcode: int, soa: RR | None, edns: bool, udp_payload: int):
        header = DNSHeader(id=0, qr=1, aa=1 if soa is not None else 0, ra=0, rcode=rcode)
        record = DNSRecord(header, q=DNSQuestion(origin + "." if soa is not None else ".", 1, 1))
        if soa is not None:
            record.add_auth(soa)
        if edns:
            record.add_ar(EDNS0(udp_len=udp_payload))
        wire = record.pack()
        self.origin_length = _wire_length(origin) if soa is not None else 1
        qend = 12 + self.origin_length + 4
        flags = bytes(wire[2:12])
        #: Bytes 2-12 (flags and counts), without and with RD.
        self.heads = (bytes([flags[0] & ~0x01]) + flags[1:], bytes([flags[0] | 0x01]) + flags[1:])
        self.tail = bytes(wire[qend:])
        self.pointers: list[int] = []
        pos = 0
        if soa is not None:
            pos = _skip_name(self.tail, pos, self.pointers) + 10  # owner, type, class, TTL, RDLENGTH
            pos = _skip_name(self.tail, pos, self.pointers)  # MNAME
            pos = _skip_name(self.tail, pos, self.pointers) + 20  # RNAME, five counters
        if edns:
            pos = _skip_name(self.tail, pos, self.pointers) + 10
            pos += int.from_bytes(self.tail[pos - 2 : pos], "big")
        assert pos == len(self.tail), "a negative answer holds only the SOA and OPT"
        #: Query-name length difference -> tail with its pointers moved.
        self.tails: dict[int, bytes] = {0: self.tail}
        #: Names directly below the origin that start an SOA name: a query at
        #: or below one would compress differently (see the module doc).
        self.blocked: tuple[str, ...] = ()
        if soa is not None:
            blocked = set()
            for label in (soa.rdata.mname, soa.rdata.rname):
                name = str(label).rstrip(".").lower()
                if origin and name.endswith("." + origin):
                    child = name[: -len(origin) - 1].rpartition(".")[2]
                    blocked.add(child + "." + origin)
            self.blocked = tuple(blocked)

    def usable(self, qname: str) -> bool:
        """Whether :meth:`reply` gives the slow path's bytes for ``qname``."""
        for child in self.blocked:
            if qname == child or qname.endswith("." + child):
                return False
        return True

    def reply(self, qid: bytes, rd: bool, question: bytes) -> bytes:
        """The answer: ``qid`` (two octets), then the flags, then
        ``question`` (the query's name as sent, type and class), then the
        records. ``question`` must be the query's, whose name is in this
        template's zone (or anywhere, for REFUSED)."""
        shift = len(question) - 4 - self.origin_length
        tail = self.tails.get(shift)
        if tail is None:
            tail = self._shifted(shift)
        return qid + self.heads[rd] + question + tail

    def _shifted(self, shift: int) -> bytes:
        out = bytearray(self.tail)
        for pos in self.pointers:
            target = ((out[pos] & 0x3F) << 8 | out[pos + 1]) + shift
            out[pos] = 0xC0 | target >> 8
            out[pos + 1] = target & 0xFF
        tail = bytes(out)
        if len(self.tails) >= MAX_TAILS:
            self.tails.clear()
        self.tails[shift] = tail
        return tail
