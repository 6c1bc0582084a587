"""Reading a query before any DNS library sees it.

A query is small and rigid: a header, one question, at most one OPT record
(RFC 6891). :func:`parse_query` checks all of it with plain slicing - counts,
label lengths (63), name length (255), no compression pointers in the
question - so a hostile packet costs microseconds and never reaches a parser
whose name decompression is recursive. Anything else is :class:`Malformed`
(answered FORMERR) or :class:`Ignore` (dropped: responses, runts).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

MAX_UDP = 4096
MAX_TCP = 65535

OPCODE_QUERY = 0
TYPE_OPT = 41
TYPE_IXFR = 251
TYPE_AXFR = 252


class Ignore(Exception):
    """Not worth an answer (a response, or too short to carry an ID)."""


class Special(Exception):
    """Not a plain query: a zone transfer (AXFR/IXFR) or a query carrying
    records beyond one OPT (a TSIG signature, IXFR's SOA). Only the
    secondaries in the config get these parsed (:mod:`.transfer`)."""

    def __init__(self, qid: int, qtype: int, qend: int):
        super().__init__("special")
        self.qid = qid
        self.qtype = qtype
        self.qend = qend


class Malformed(Exception):
    """Answer FORMERR (or ``rcode``) with the query's ID."""

    def __init__(self, qid: int, rcode: int = 1, message: str = ""):
        super().__init__(message)
        self.qid = qid
        self.rcode = rcode


class Query(NamedTuple):
    """One vetted query (a tuple: cheap to build once per datagram)."""

    qid: int
    flags: int
    qname_wire: bytes  # as sent: its letter case is copied into the answer
    qname: str  # lower-case, dotted, without the trailing dot ("" for the root)
    qtype: int
    qclass: int
    edns: bool
    edns_version: int
    payload: int  # the client's UDP payload size (512 without EDNS)
    do: bool

    @property
    def rd(self) -> bool:
        return bool(self.flags & 0x0100)


def parse_query(data: bytes, *, tcp: bool = False) -> Query:
    if len(data) < 12:
        raise Ignore("runt")
    qid, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", data)
    if flags & 0x8000:
        raise Ignore("a response")
    if len(data) > (MAX_TCP if tcp else MAX_UDP):
        raise Malformed(qid, message="oversized")
    opcode = (flags >> 11) & 0xF
    if opcode != OPCODE_QUERY:
        raise Malformed(qid, rcode=4, message=f"opcode {opcode}")  # NOTIMP
    if qd != 1 or an or ns > 1 or ar > 2:
        raise Malformed(qid, message="counts")
    pos = 12
    labels = []
    while True:
        if pos >= len(data):
            raise Malformed(qid, message="name runs past the end")
        length = data[pos]
        if length == 0:
            pos += 1
            break
        if length & 0xC0:
            raise Malformed(qid, message="compression or extended label in the question")
        if length > 63:
            raise Malformed(qid, message="label over 63 octets")
        labels.append(data[pos + 1 : pos + 1 + length])
        pos += 1 + length
        if pos - 12 > 255:
            raise Malformed(qid, message="name over 255 octets")
    if pos + 4 > len(data):
        raise Malformed(qid, message="question truncated")
    qname_wire = data[12:pos]
    qtype, qclass = struct.unpack_from("!HH", data, pos)
    pos += 4
    if qtype in (TYPE_AXFR, TYPE_IXFR) or ns or ar == 2 or (ar == 1 and not _opt_at(data, pos)):
        raise Special(qid, qtype, pos)
    edns, version, payload, do = False, 0, 512, False
    if ar:
        # The OPT pseudo-record: root owner, type 41, class = payload size,
        # TTL = extended RCODE, version, flags (RFC 6891 section 6.1.2).
        if pos + 11 > len(data) or data[pos] != 0:
            raise Malformed(qid, message="additional record is not OPT")
        rtype, rclass, _ext, version, eflags, rdlen = struct.unpack_from("!HHBBHH", data, pos + 1)
        if rtype != TYPE_OPT:
            raise Malformed(qid, message="additional record is not OPT")
        pos += 11 + rdlen
        if pos > len(data):
            raise Malformed(qid, message="OPT runs past the end")
        edns, payload, do = True, max(512, rclass), bool(eflags & 0x8000)
    if pos != len(data):
        raise Malformed(qid, message="trailing bytes")
    dotted = b".".join(labels)
    try:
        qname = dotted.decode("ascii").lower()
    except UnicodeDecodeError:
        # Binary labels are legal DNS but never one of our names.
        qname = dotted.decode("latin-1").lower()
    return Query(qid, flags, qname_wire, qname, qtype, qclass, edns, version, payload, do)


def _opt_at(data: bytes, pos: int) -> bool:
    """Whether an OPT record (root owner, type 41) starts at ``pos``."""
    return len(data) >= pos + 3 and data[pos] == 0 and data[pos + 1 : pos + 3] == b"\x00\x29"


def question_end(wire: bytes) -> int:
    """Offset just past the (uncompressed) question of a message of ours."""
    if len(wire) < 12 or wire[4:6] == b"\x00\x00":
        return min(len(wire), 12)
    pos = 12
    while pos < len(wire) and wire[pos]:
        pos += 1 + wire[pos]
    return min(len(wire), pos + 5)


def error_response(qid: int, rcode: int, flags: int = 0) -> bytes:
    """A header-only answer (QR set, RD copied) carrying ``rcode``."""
    out_flags = 0x8000 | (flags & 0x0100) | (rcode & 0xF)
    return struct.pack("!HHHHHH", qid, out_flags, 0, 0, 0, 0)
