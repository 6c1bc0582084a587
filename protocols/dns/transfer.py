"""Zone transfer to the configured secondaries (RFC 5936, RFC 1995, RFC 8945).

Only the addresses in ``[dns] secondaries`` get anything here; everyone else
is refused before the message is parsed at all. From a secondary, the
message is parsed by dnspython with the keyring of that address, so a TSIG
signature is verified (a bad one is NOTAUTH) and the answer is signed with
the same key. A secondary configured with a key must sign; one without a
key is trusted by its address alone.

* AXFR over TCP: the SOA, every record, the SOA again, in as many messages
  as needed (each signed in sequence, RFC 8945 section 5.3.1).
* IXFR: answered with the full zone in AXFR form (RFC 1995 section 4 allows
  it; we keep no history of changes).
* Any other signed query (a secondary asking for the SOA before it
  transfers): answered as usual, then signed.
* Transfers over UDP are REFUSED (signed, when the request was).
* A signed zone goes with its DNSKEY, NSEC and RRSIG records.
"""

from __future__ import annotations

import base64
import io
import itertools
import logging
from dataclasses import dataclass
from typing import Any, Iterable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig

from .engine import Engine
from .wire import TYPE_AXFR, TYPE_IXFR, Query, Special, error_response

log = logging.getLogger(__name__)

#: Records of one transfer message are cut at about this many octets.
MESSAGE_BUDGET = 8_000
RCODE_REFUSED = 5
RCODE_NOTAUTH = 9


@dataclass(frozen=True)
class Secondary:
    address: str
    port: int
    key: dns.tsig.Key | None

    @property
    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        return {self.key.name: self.key} if self.key is not None else {}


def secondaries(settings: Any) -> tuple[Secondary, ...]:
    """The ``[dns] secondaries`` of ``settings`` with their TSIG keys."""
    out = []
    for entry in settings.dns.secondaries:
        key = None
        if entry["tsig_name"]:
            key = dns.tsig.Key(
                dns.name.from_text(entry["tsig_name"]),
                base64.b64decode(entry["tsig_secret"]),
                dns.name.from_text(entry["tsig_algorithm"]),
            )
        out.append(Secondary(entry["address"], entry["port"], key))
    return tuple(out)


def _with_question(data: bytes, qend: int, rcode: int) -> bytes:
    """An error answer that keeps the question (it was checked by the wire layer)."""
    header = bytearray(error_response(int.from_bytes(data[:2], "big"), rcode, int.from_bytes(data[2:4], "big")))
    header[4:6] = b"\x00\x01"
    return bytes(header) + data[12:qend]


class Transfers:
    """Answers :class:`~.wire.Special` messages. See module doc."""

    def __init__(self, engine: Engine, servers: Iterable[Secondary]):
        self.engine = engine
        self.by_address: dict[str, list[Secondary]] = {}
        for server in servers:
            self.by_address.setdefault(server.address, []).append(server)

    def answer(self, data: bytes, special: Special, peer: str, *, tcp: bool) -> list[bytes]:
        """The reply messages (one, or a transfer's sequence)."""
        xfr = special.qtype in (TYPE_AXFR, TYPE_IXFR)
        allowed = self.by_address.get(peer)
        if not allowed:
            if xfr:
                log.info("%s: zone transfer refused (not a configured secondary)", peer)
                return [_with_question(data, special.qend, RCODE_REFUSED)]
            return [error_response(special.qid, 1, int.from_bytes(data[2:4], "big"))]  # FORMERR, as before
        keyring: dict[dns.name.Name, dns.tsig.Key] = {}
        for server in allowed:
            keyring.update(server.keyring)
        try:
            message = dns.message.from_wire(data, keyring=keyring or None)
        except (dns.message.UnknownTSIGKey, dns.tsig.BadSignature, dns.tsig.BadTime, dns.tsig.BadAlgorithm) as exc:
            log.info("%s: TSIG check failed: %s", peer, type(exc).__name__)
            return [_with_question(data, special.qend, RCODE_NOTAUTH)]
        except dns.exception.DNSException as exc:
            log.info("%s: malformed message: %s", peer, exc)
            return [error_response(special.qid, 1, int.from_bytes(data[2:4], "big"))]
        if not message.had_tsig and all(server.key is not None for server in allowed):
            log.info("%s: unsigned %s refused (the secondary has a TSIG key)", peer, "transfer" if xfr else "query")
            return [_with_question(data, special.qend, RCODE_REFUSED)]
        if xfr and not tcp:
            # RFC 5936 section 4.2: AXFR is TCP only; IXFR over UDP would
            # need history we do not keep. The refusal is signed like any
            # answer to a verified request (RFC 8945 section 5.3).
            response = dns.message.make_response(message)
            response.set_rcode(dns.rcode.REFUSED)
            return [response.to_wire(max_size=65535)]
        if xfr:
            return self._transfer(message, data, special, peer)
        return [self._signed_answer(message, data, special, tcp)]

    def _signed_answer(self, message: dns.message.Message, data: bytes, special: Special, tcp: bool) -> bytes:
        question = message.question[0]
        edns = message.edns >= 0
        query = Query(
            message.id, message.flags, data[12 : special.qend - 4],
            question.name.to_text(omit_final_dot=True).lower(), question.rdtype, question.rdclass,
            edns, max(message.edns, 0), message.payload if edns else 512, bool(message.ednsflags & dns.flags.DO),
        )
        plain = dns.message.from_wire(self.engine.answer(query, tcp=tcp))
        response = dns.message.make_response(message)
        response.flags = plain.flags
        response.set_rcode(plain.rcode())
        response.answer, response.authority = plain.answer, plain.authority
        response.additional = plain.additional
        return response.to_wire(max_size=65535)

    def _transfer(self, message: dns.message.Message, data: bytes, special: Special, peer: str) -> list[bytes]:
        origin = message.question[0].name.to_text(omit_final_dot=True).lower()
        zone = self.engine.zone(origin)
        if zone is None:
            log.info("%s: transfer of %s refused (not a zone of ours)", peer, origin)
            return [_with_question(data, special.qend, RCODE_NOTAUTH)]
        chunks = list(_chunks(zone))
        response = dns.message.make_response(message)
        response.flags |= dns.flags.AA
        out = []
        multi = len(chunks) > 1
        for chunk in chunks:
            response.answer = chunk
            out.append(response.to_wire(max_size=65535, multi=multi, tsig_ctx=response.tsig_ctx))
        log.info("%s: %s of %s serial %d in %d messages", peer, dns.rdatatype.to_text(special.qtype), origin, zone.serial, len(out))
        return out


def _chunks(zone: Any) -> Iterable[list[dns.rrset.RRset]]:
    """The zone's records as RRsets, SOA first and last, cut into messages."""
    source = zone.source
    soa = dns.rrset.from_text(zone.origin + ".", zone.soa.ttl, "IN", "SOA", zone.soa_text)
    records: list[tuple[str, str, int, str]] = []
    for (name, rtype), values in sorted(source.records.items()):
        records += [(name, rtype, source.ttl(name, rtype), value) for value in values]
    rrsets = (dns.rrset.from_text(name + ".", ttl, "IN", rtype, value) for name, rtype, ttl, value in records)
    signed = zone.signed_source
    if signed is not None:
        # The NSEC chain and every signature travel with the zone, so
        # secondaries serve it signed as it is (RFC 4035 section 3.1).
        nsec = (dns.rrset.from_rdata(name + ".", signed.nsec_ttl, rdata) for name, rdata in sorted(signed.nsec.items()))
        sigs = (
            dns.rrset.from_rdata_list(name + ".", signed.nsec_ttl if rtype == "NSEC" else source.ttl(name, rtype), rdatas)
            for (name, rtype), rdatas in sorted(signed.rrsigs.items())
        )
        rrsets = itertools.chain(rrsets, nsec, sigs)
    chunk: list[dns.rrset.RRset] = [soa]
    size = _size(soa)
    for rrset in rrsets:
        grown = _size(rrset)
        if size + grown > MESSAGE_BUDGET and chunk:
            yield chunk
            chunk, size = [], 0
        last = chunk[-1] if chunk else None
        if last is not None and (last.name, last.rdtype, last.covers) == (rrset.name, rrset.rdtype, rrset.covers):
            chunk[-1].union_update(rrset)
        else:
            chunk.append(rrset)
        size += grown
    chunk.append(soa)
    yield chunk


def _size(rrset: dns.rrset.RRset) -> int:
    buf = io.BytesIO()
    rrset.to_wire(buf)
    return len(buf.getvalue())
