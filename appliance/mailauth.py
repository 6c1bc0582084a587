"""Sender authentication of mail: SPF, DKIM and DMARC checks written into an
``Authentication-Results`` header (RFC 8601), and DKIM signing of mail that
leaves the box.

Every DNS lookup goes to the resolver named in ``[smtp] resolver`` (never
the system's), with ``[smtp] dns_timeout``. The checks (pyspf, dkimpy and
the DMARC evaluation here) are synchronous libraries, so they run on a
small thread pool of their own, never on the event loop. Without a
resolver no lookups are made and the header says ``none``.

DMARC (RFC 7489) is evaluated with relaxed or strict alignment as the
record asks; the organisational domain is the registrable domain by the
Public Suffix List (section 3.2), from the list the ``publicsuffixlist``
package ships (no lookup over the network). A name with several
``v=DMARC1`` records has no policy (section 6.6.3). A failure under
``p=quarantine`` (or ``p=reject`` when rejecting is disabled) is marked
for the Junk folder (:attr:`Verdict.quarantine`).

Names inside the zones this box serves are never looked up: the checks read
the box's own zone data (:class:`ZoneResolver`, set with
:meth:`Verifier.set_zones`), so mail claiming a domain hosted here is judged
by the records we publish, with no DNS traffic and no resolver needed
(:meth:`Verifier.own_spf`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import re
from dataclasses import dataclass
from typing import Any, Mapping

import dkim
import dns.asyncresolver
import dns.exception
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import spf
from publicsuffixlist import PublicSuffixList

from storage import dkim as dkimdb

from storage import names
from .errors import ApplianceError, InvalidInput
from .zones import BoxDns, Zone, zone_for

log = logging.getLogger(__name__)

#: Headers covered by our signatures (RFC 6376 section 5.4.1's list).
SIGNED_HEADERS = [
    b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"reply-to",
    b"in-reply-to", b"references", b"mime-version", b"content-type", b"content-transfer-encoding",
]


def make_resolver(spec: tuple[str, int], timeout: float, *, asynchronous: bool = False) -> Any:
    cls = dns.asyncresolver.Resolver if asynchronous else dns.resolver.Resolver
    resolver = cls(configure=False)
    resolver.nameservers = [spec[0]]
    resolver.port = spec[1]
    resolver.timeout = timeout
    resolver.lifetime = timeout
    return resolver


class Spoofed(ApplianceError):
    """Mail claims a domain hosted here from a client our records do not
    allow (and that did not authenticate): refused, never delivered."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of the checks on one incoming message."""

    header: str  # the Authentication-Results header, CRLF-terminated
    reject: bool  # DMARC failed under p=reject and rejecting is enabled
    from_domain: str
    #: DMARC failed under p=quarantine (or an unenforced p=reject): Junk.
    quarantine: bool = False
    #: Domains of the DKIM signatures that verified.
    dkim_pass: tuple[str, ...] = ()


#: CNAMEs followed inside our own zones before giving up.
MAX_CNAME_CHAIN = 8


class ZoneResolver:
    """A resolver (the part of dnspython's API the checks use) that answers
    names inside our own zones from their data, and asks ``fallback`` for
    the rest (``None``: the rest has no answer).

    Names below a delegation are not ours to answer and go to ``fallback``.
    The box's host name always resolves to its configured addresses, as
    the MX records name it even when it lies outside every zone.
    """

    def __init__(self, zones: Mapping[str, Zone], box: BoxDns | None, fallback: Any = None):
        self.zones = zones
        self.box = box
        self.fallback = fallback

    def ours(self, name: str) -> bool:
        """True if ``name`` is answered from our own data."""
        name = name.lower().rstrip(".")
        if self.box is not None and name == self.box.hostname:
            return True
        zone = zone_for(self.zones, name)
        return zone is not None and not any(
            name == cut or name.endswith("." + cut) for cut in zone.cuts()
        )

    def resolve(self, name: Any, qtype: str, search: bool = False) -> list:
        qname = str(name).lower().rstrip(".")
        if not self.ours(qname):
            if self.fallback is None:
                raise dns.resolver.NoNameservers()
            return self.fallback.resolve(qname, qtype, search=False)
        if self.box is not None and qname == self.box.hostname and qtype in ("A", "AAAA"):
            addresses = self.box.ipv4 if qtype == "A" else self.box.ipv6
            if addresses:
                return [dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(qtype), a) for a in addresses]
        for _ in range(MAX_CNAME_CHAIN):
            zone = zone_for(self.zones, qname)
            if zone is None:
                break
            values = zone.records.get((qname, qtype))
            if values:
                rdtype = dns.rdatatype.from_text(qtype)
                return [dns.rdata.from_text(dns.rdataclass.IN, rdtype, v, origin=None) for v in values]
            target = zone.records.get((qname, "CNAME"))
            if not target:
                if qname in zone.names():
                    raise dns.resolver.NoAnswer()
                raise dns.resolver.NXDOMAIN()
            qname = target[0].lower().rstrip(".")
            if not self.ours(qname):
                return self.resolve(qname, qtype) if self.fallback is not None else []
        raise dns.resolver.NoAnswer()


class _SpfQuery(spf.query):
    """pyspf's query with its DNS going to our resolver (no module globals)."""

    resolver: Any = None

    def dns(self, name: Any, qtype: str, cnames: Any = None, ignore_void: bool = False) -> list:
        if not name:
            raise spf.PermError("invalid query")
        name = str(name).rstrip(".").lower()
        key = (name, qtype)
        if key in self.cache:
            return self.cache[key]
        try:
            answers = self.resolver.resolve(name, qtype, search=False)
            result = []
            for rdata in answers:
                if qtype in ("A", "AAAA"):
                    result.append(rdata.address)
                elif qtype == "MX":
                    result.append((rdata.preference, rdata.exchange))
                elif qtype == "PTR":
                    result.append(rdata.target.to_text(True))
                elif qtype in ("TXT", "SPF"):
                    result.append(rdata.strings)
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            result = []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise spf.TempError(f"DNS {exc}") from None
        self.cache[key] = result
        if not result and not ignore_void:
            self.void_lookups += 1
            if self.void_lookups > spf.MAX_VOID_LOOKUPS:
                raise spf.PermError(f"void lookup limit of {spf.MAX_VOID_LOOKUPS} exceeded")
        return result


class Verifier:
    """SPF, DKIM and DMARC for incoming mail; DKIM signing for outgoing."""

    def __init__(
        self, hostname: str, resolver: tuple[str, int] | None, timeout: float, dmarc_reject: bool, *, threads: int = 8
    ):
        self.hostname = hostname
        #: (address, port) of the resolver, or None for no lookups.
        self.spec = resolver
        self.timeout = timeout
        self.dmarc_reject = dmarc_reject
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mailauth")
        self._zones: Mapping[str, Zone] = {}
        self._box: BoxDns | None = None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def set_zones(self, zones: Mapping[str, Zone], box: BoxDns) -> None:
        """The zones this box serves now (replaced whole, never mutated)."""
        self._zones, self._box = zones, box

    def _resolver(self) -> ZoneResolver:
        fallback = make_resolver(self.spec, self.timeout) if self.spec is not None else None
        return ZoneResolver(self._zones, self._box, fallback)

    # -- our own domains -------------------------------------------------------

    async def own_spf(self, ip: str, helo: str, sender: str) -> str:
        """The SPF result for ``sender`` (an address of a domain hosted here)
        sent from ``ip``, from our own zone data alone (no DNS lookup).

        Anything but ``"pass"`` means the client is not one our records
        allow; a hosted domain without a record in our zones is ``"none"``.
        """
        resolver = ZoneResolver(self._zones, self._box, None)
        loop = asyncio.get_running_loop()
        result, _domain = await loop.run_in_executor(self._pool, self._spf, resolver, ip, helo, sender)
        return result

    async def check_sender(self, ip: str, helo: str, sender: str, hosted: bool) -> None:
        """Raise :class:`Spoofed` if ``sender`` (the envelope sender of an
        unauthenticated session) is of a domain hosted here (``hosted``)
        and our own SPF record for it does not allow ``ip``."""
        if not hosted or not sender:
            return
        result = await self.own_spf(ip, helo, sender)
        if result != "pass":
            raise Spoofed(f"envelope sender {sender} is hosted here; SPF {result} for {ip}")

    async def check_header_from(self, raw: bytes, ip: str, helo: str, verdict: Verdict, hosted: set[str]) -> None:
        """Raise :class:`Spoofed` if a From: field of an unauthenticated
        message names a domain in ``hosted`` (those of :func:`from_domains`
        that are hosted here) and neither our SPF record for that domain
        allows ``ip`` nor a DKIM signature of that domain verified (one we
        made, checked against the key in our zone: a message relayed
        unchanged by a mailing list keeps it)."""
        for domain in sorted(hosted):
            if domain in verdict.dkim_pass:
                continue
            result = await self.own_spf(ip, helo, f"postmaster@{domain}")
            if result != "pass":
                raise Spoofed(f"From: domain {domain} is hosted here; SPF {result} for {ip}, no valid signature")

    # -- verification ----------------------------------------------------------

    async def verify(
        self, raw: bytes, ip: str, helo: str, mail_from: str, claimed: set[str] | None = None
    ) -> Verdict:
        """The checks of one message, off the loop. ``claimed`` is
        :func:`from_domains` of ``raw`` if the caller has it already.
        Without a resolver only mail that involves our own zones is checked."""
        if self.spec is None:
            resolver = ZoneResolver(self._zones, self._box)
            domains = {mail_from.rpartition("@")[2]} if mail_from else set()
            domains |= from_domains(raw) if claimed is None else claimed
            if not any(resolver.ours(d) for d in domains):
                return Verdict(f"Authentication-Results: {self.hostname}; none\r\n", False, "")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.verify_sync, raw, ip, helo, mail_from)

    def verify_sync(self, raw: bytes, ip: str, helo: str, mail_from: str) -> Verdict:
        resolver = self._resolver()
        spf_result, spf_domain = self._spf(resolver, ip, helo, mail_from)
        dkim_results = self._dkim(resolver, raw)
        from_domain = header_from_domain(raw)
        dmarc_result, policy = ("none", None)
        if from_domain:
            dmarc_result, policy = self._dmarc(resolver, from_domain, spf_result, spf_domain, dkim_results)
        parts = [f"spf={spf_result} smtp.{'mailfrom' if mail_from else 'helo'}={_safe(spf_domain)}"]
        if dkim_results:
            parts += [f"dkim={result} header.d={_safe(domain)}" for domain, result in dkim_results]
        else:
            parts.append("dkim=none")
        parts.append(
            f"dmarc={dmarc_result}" + (f" (p={policy})" if policy else "")
            + (f" header.from={_safe(from_domain)}" if from_domain else "")
        )
        header = f"Authentication-Results: {self.hostname};\r\n\t" + ";\r\n\t".join(parts) + "\r\n"
        failed = dmarc_result == "fail"
        reject = self.dmarc_reject and failed and policy == "reject"
        # RFC 7489 section 6.3: "quarantine" means suspicious, not refused;
        # an unenforced "reject" is treated the same (section 6.7).
        quarantine = failed and not reject and policy in ("quarantine", "reject")
        passed = tuple(d for d, r in dkim_results if r == "pass")
        return Verdict(header, reject, from_domain or "", quarantine, passed)

    def _spf(self, resolver: Any, ip: str, helo: str, mail_from: str) -> tuple[str, str]:
        domain = mail_from.rpartition("@")[2].lower() if mail_from else helo.lower()
        if not domain:
            return "none", ""
        try:
            query = _SpfQuery(i=ip, s=mail_from, h=helo or domain, timeout=self.timeout, querytime=4 * self.timeout)
            query.resolver = resolver
            result = query.check()[0]
        except Exception as exc:  # noqa: BLE001 - pyspf raises its own family and more
            log.info("SPF check for %s failed: %s", domain, exc)
            result = "temperror"
        return result if result in {"pass", "fail", "softfail", "neutral", "none", "permerror", "temperror"} else "none", domain

    def _dkim(self, resolver: Any, raw: bytes) -> list[tuple[str, str]]:
        count = len(re.findall(rb"^dkim-signature:", _head(raw), re.IGNORECASE | re.MULTILINE))
        if not count:
            return []

        def txt(name: Any, timeout: float = 5) -> bytes:
            qname = name.decode() if isinstance(name, bytes) else str(name)
            try:
                answers = resolver.resolve(qname.rstrip("."), "TXT", search=False)
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                return b""
            for rdata in answers:
                return b"".join(rdata.strings)
            return b""

        results = []
        for index in range(min(count, 5)):
            checker = dkim.DKIM(raw, timeout=int(self.timeout))
            try:
                ok = checker.verify(idx=index, dnsfunc=txt)
                result = "pass" if ok else "fail"
            except (dns.exception.Timeout, dns.resolver.NoNameservers):
                result = "temperror"
            except dkim.ValidationError as exc:
                # A body changed in transit is a failed signature, not an
                # unusable one (RFC 8601 section 2.7.1).
                result = "fail" if "mismatch" in str(exc) else "permerror"
                log.info("DKIM signature %d: %s", index, exc)
            except Exception as exc:  # noqa: BLE001 - dkimpy raises many kinds
                log.info("DKIM signature %d unusable: %s", index, exc)
                result = "permerror"
            domain = (checker.domain or b"").decode("ascii", "replace").lower()
            results.append((domain, result))
        return results

    def _dmarc(
        self, resolver: Any, from_domain: str, spf_result: str, spf_domain: str, dkim_results: list[tuple[str, str]]
    ) -> tuple[str, str | None]:
        record, subdomain = self._dmarc_record(resolver, from_domain)
        if record is None:
            return "none", None
        tags = dict(
            (k.strip().lower(), v.strip()) for k, _, v in (t.partition("=") for t in record.split(";")) if k.strip()
        )
        policy = tags.get("sp", tags.get("p")) if subdomain else tags.get("p")
        policy = (policy or "none").lower()
        strict_spf = tags.get("aspf", "r").lower() == "s"
        strict_dkim = tags.get("adkim", "r").lower() == "s"
        aligned = spf_result == "pass" and _aligned(spf_domain, from_domain, strict_spf)
        aligned = aligned or any(
            r == "pass" and _aligned(d, from_domain, strict_dkim) for d, r in dkim_results
        )
        return ("pass" if aligned else "fail"), policy

    def _dmarc_record(self, resolver: Any, domain: str) -> tuple[str | None, bool]:
        org = organisational_domain(domain)
        for name, subdomain in ((domain, False), (org, True)) if org != domain else ((domain, False),):
            try:
                answers = resolver.resolve(f"_dmarc.{name}", "TXT", search=False)
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
            except (dns.exception.Timeout, dns.resolver.NoNameservers):
                return None, False
            records = [
                text
                for text in (b"".join(rdata.strings).decode("ascii", "replace") for rdata in answers)
                if re.match(r"v\s*=\s*dmarc1\s*(;|$)", text, re.IGNORECASE)
            ]
            if len(records) > 1:
                # RFC 7489 section 6.6.3: several records - no policy at all.
                log.info("DMARC: %d records at _dmarc.%s, applying none", len(records), name)
                return None, False
            if records:
                return records[0], subdomain
        return None, False

    # -- signing -----------------------------------------------------------------

    async def sign(self, tenant: Any, domain: str, message: bytes) -> bytes:
        """``message`` with a DKIM-Signature of ``domain``'s key prepended."""
        key = await tenant.read("dkim key", lambda c: dkimdb.key_for(c, domain))
        if key is None:
            key = await tenant.write("dkim key", lambda c: dkimdb.ensure_key(c, domain))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, sign_message, message, key)


def sign_message(message: bytes, key: dkimdb.DkimKey) -> bytes:
    present = {m.lower() for m in re.findall(rb"^([A-Za-z0-9-]+):", _head(message), re.MULTILINE)}
    include = [h for h in SIGNED_HEADERS if h in present]
    signature = dkim.sign(
        message,
        key.selector.encode(),
        key.domain.encode(),
        key.private_pem,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=include,
        linesep=b"\r\n",
    )
    return signature + message


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    return PublicSuffixList()


def organisational_domain(domain: str) -> str:
    """The registrable domain (``shop.co.uk`` for ``mail.shop.co.uk``)."""
    name = domain.lower().rstrip(".")
    return _public_suffixes().privatesuffix(name) or name


def _aligned(domain: str, from_domain: str, strict: bool) -> bool:
    if not domain:
        return False
    if strict:
        return domain.lower() == from_domain.lower()
    return organisational_domain(domain) == organisational_domain(from_domain)


def header_from_domain(raw: bytes) -> str | None:
    """The domain of the From: header, or None if there is not exactly one."""
    from email import policy
    from email.parser import BytesHeaderParser

    try:
        msg = BytesHeaderParser(policy=policy.SMTPUTF8).parsebytes(_head(raw))
        froms = msg.get_all("From") or []
        if len(froms) != 1 or len(froms[0].addresses) != 1:
            return None
        domain = froms[0].addresses[0].domain.lower()
        return domain or None
    except Exception:  # noqa: BLE001 - unparseable: no DMARC verdict
        return None


_QUOTED = re.compile(rb'"(?:[^"\\]|\\.)*"')
_ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_COMMENT = re.compile(rb"\([^()]*\)")
_AT_DOMAIN = re.compile(rb"@\s*([^\s<>,;:()\"\[\]@]{1,253})")


def from_domains(raw: bytes) -> set[str]:
    """Every domain an address in any From: field names, read leniently:
    several From: fields, ``From :`` (obsolete syntax), fields after a line
    that is not one, several addresses, unparseable values - whatever a mail
    client might show. Display names (quoted, encoded or in comments) are
    not addresses and are skipped."""
    values: list[list[bytes]] = []
    current = None
    for line in _head(raw).split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                current.append(line)
            continue
        name, colon, value = line.partition(b":")
        current = [value] if colon and name.strip().lower() == b"from" else None
        if current is not None:
            values.append(current)
    domains: set[str] = set()
    for parts in values:
        text = b" ".join(parts)
        text = _QUOTED.sub(b" ", text)
        text = _ENCODED_WORD.sub(b" ", text)
        for _ in range(3):  # nested comments, a few levels
            text = _COMMENT.sub(b" ", text)
        for m in _AT_DOMAIN.finditer(text):
            try:
                # A U-label (SMTPUTF8) names the same domain as its A-label.
                domains.add(names.domain(m.group(1).decode("utf-8", "replace")))
            except InvalidInput:
                continue
    return domains


def _head(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    return raw if end < 0 else raw[: end + 2]


def _safe(text: str) -> str:
    return "".join(c for c in text if c.isalnum() or c in ".-_@") or "unknown"


def add_result(header: str, result: str) -> str:
    """``header`` (an Authentication-Results field, CRLF-terminated) with
    one more ``method=result`` entry (RFC 8601 section 2.2) appended."""
    body = header[: -2] if header.endswith("\r\n") else header
    if body.rstrip().endswith("; none"):
        # "none" stands for no results at all (section 2.2): replace it.
        body = body.rstrip()[: -len(" none")]
        return f"{body}\r\n\t{result}\r\n"
    return f"{body};\r\n\t{result}\r\n"


def strip_forged_results(raw: bytes, authserv_id: str) -> bytes:
    """``raw`` without Authentication-Results fields claiming to be ours.

    RFC 8601 section 5: a receiver removes fields bearing its own authserv-id
    that arrived with the message, so none can pass for its own verdict.
    """
    end = raw.find(b"\r\n\r\n")
    if end < 0 or b"authentication-results" not in raw[:end].lower():
        return raw
    ours = authserv_id.lower().encode()
    fields: list[list[bytes]] = []
    for line in raw[: end + 2].split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
    kept = []
    for field in fields:
        name, _, value = b"\r\n".join(field).partition(b":")
        if name.strip().lower() == b"authentication-results":
            serv = value.split(b";", 1)[0].strip().split()[0:1]
            if serv and serv[0].lower() == ours:
                continue
        kept.append(b"\r\n".join(field))
    return b"\r\n".join(kept) + b"\r\n" + raw[end + 2 :]
