"""DMARC aggregate reports: read at delivery, summed up for the owner.

With ``[dns] dmarc_reports`` every domain's DMARC record asks receivers
(Google, Microsoft, Yahoo...) to send a daily aggregate report (RFC 7489
section 7.2, the XML ``feedback`` document of its Appendix C) to
``<reports_local_part>@<domain>``. Such a message is delivered like any
other; besides, :func:`read` finds the report in it and
:func:`storage.dmarcreports.store` keeps its summary, which the panel shows
the owner through :func:`summarise`.

A report comes as an attachment (or the whole body) that is plain XML,
gzip (``.xml.gz``) or zip (the first ``.xml`` member), whatever content
type the sender gave it; its bytes decide which. Everything is bounded:
the attachment (:data:`MAX_ATTACHMENT`), the XML once decompressed
(:data:`MAX_XML`), the records (:data:`MAX_RECORDS`) and every string.
The XML parser refuses any DTD, entity declaration and external reference
(``defusedxml``), so an entity bomb or an external entity is refused, not
expanded. :func:`read` raises :class:`BadReport` for anything it cannot
take; the caller logs it once and delivers the message anyway.
"""

from __future__ import annotations

import binascii
import io
import ipaddress
import json
import logging
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from xml.etree.ElementTree import ParseError

from storage.dmarcreports import RecordRow, ReportRow, SourceTotal

from .errors import InvalidInput

log = logging.getLogger(__name__)

#: The report attachment as sent (compressed), decoded from base64.
MAX_ATTACHMENT = 5 * 1024 * 1024
#: The XML once decompressed.
MAX_XML = 10 * 1024 * 1024
#: Records in one report; a larger report is not summarised.
MAX_RECORDS = 10_000
#: Authentication results kept per record and method.
MAX_AUTH = 10
#: Longest string kept from a report (org name, report id, domains...).
MAX_TEXT = 255

#: Content types reports come as (RFC 7489 section 7.2.1.1 names gzip and
#: zip; receivers also send XML as is, or anything as octet-stream).
REPORT_TYPES = frozenset({
    "application/gzip", "application/x-gzip", "application/zip", "application/x-zip-compressed",
    "application/x-zip", "text/xml", "application/xml", "application/octet-stream",
})
_NAME = re.compile(r"\.(xml|xml\.gz|gz|zip)$", re.I)
_DOMAIN = re.compile(r"^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


class BadReport(InvalidInput):
    """The message's report cannot be read: malformed, too large, unsafe."""


@dataclass(frozen=True)
class Report:
    """A report as read: its metadata and policy, and its records."""

    meta: ReportRow
    records: tuple[RecordRow, ...] = field(default=())


def is_reports_address(address: str, local_part: str) -> bool:
    """Whether ``address`` is the reports address (``local_part@`` a domain)."""
    return bool(local_part) and address.rpartition("@")[0].lower() == local_part.lower()


# -- finding the report in a message -------------------------------------------


def _param(params: Iterable[Any], name: str) -> str:
    for item in params or ():
        if len(item) == 2 and str(item[0]).lower() == name:
            value = item[1]
            # RFC 2231 values come as [charset, language, value].
            return str(value[-1] if isinstance(value, list) else value)
    return ""


def _leaves(node: dict[str, Any]) -> Iterable[dict[str, Any]]:
    stack = [node]
    while stack:
        current = stack.pop(0)
        if "parts" in current:
            stack[0:0] = current["parts"]
        elif "msg" not in current:
            yield current


def _candidate(node: dict[str, Any]) -> bool:
    ctype = f"{node.get('t')}/{node.get('s')}"
    disp = node.get("disp") or [None, []]
    name = _param(disp[1], "filename") or _param(node.get("p") or [], "name")
    if ctype in REPORT_TYPES and ctype != "application/octet-stream":
        return True
    return bool(name) and bool(_NAME.search(name)) and (ctype in REPORT_TYPES or node.get("t") == "application")


def attachment(raw: bytes, tree: dict[str, Any]) -> bytes | None:
    """The decoded bytes of the first part of ``raw`` (its MIME tree from
    :func:`appliance.mime.parse`) that may hold a report, or None."""
    for node in _leaves(tree):
        if not _candidate(node):
            continue
        body = raw[node["b"]:node["e"]]
        enc = node.get("enc") or "7bit"
        if enc == "base64":
            if len(body) > MAX_ATTACHMENT * 4 // 3 + MAX_ATTACHMENT // 16 + 1024:
                raise BadReport("report attachment too large")
            try:
                data = binascii.a2b_base64(body)
            except binascii.Error as exc:
                raise BadReport(f"report attachment is not valid base64: {exc}") from None
        elif enc == "quoted-printable":
            data = binascii.a2b_qp(body[: MAX_ATTACHMENT * 3])
        else:
            data = body
        if len(data) > MAX_ATTACHMENT:
            raise BadReport("report attachment too large")
        return data
    return None


def unpack(data: bytes) -> bytes:
    """The XML in ``data``: gzip or zip (its first ``.xml`` member)
    decompressed, at most :data:`MAX_XML` bytes, or ``data`` as it is."""
    if data[:2] == b"\x1f\x8b":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            xml = inflater.decompress(data, MAX_XML + 1)
        except zlib.error as exc:
            raise BadReport(f"report is not valid gzip: {exc}") from None
        if len(xml) > MAX_XML or inflater.unconsumed_tail:
            raise BadReport("report larger than the limit once decompressed")
        return xml
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                member = next((m for m in archive.infolist()[:100] if m.filename.lower().endswith(".xml")), None)
                if member is None:
                    raise BadReport("zip without an .xml member")
                if member.file_size > MAX_XML:
                    raise BadReport("report larger than the limit once decompressed")
                with archive.open(member) as stream:
                    # The declared size may lie: read one byte past the limit.
                    xml = stream.read(MAX_XML + 1)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError,
                zlib.error, ValueError) as exc:
            raise BadReport(f"report is not a readable zip: {exc}") from None
        if len(xml) > MAX_XML:
            raise BadReport("report larger than the limit once decompressed")
        return xml
    if len(data) > MAX_XML:
        raise BadReport("report larger than the limit")
    return data


# -- the XML ---------------------------------------------------------------------


def _local(tag: str) -> str:
    # Reporters following the DMARCbis draft put the elements in a namespace.
    return tag.rpartition("}")[2]


def _child(elem: Any, *path: str) -> Any:
    for name in path:
        if elem is None:
            return None
        elem = next((c for c in elem if _local(c.tag) == name), None)
    return elem


def _text(elem: Any, *path: str, required: bool = False, lower: bool = False) -> str:
    found = _child(elem, *path)
    value = (found.text or "").strip() if found is not None else ""
    if required and not value:
        raise BadReport(f"report without {'/'.join(path)}")
    value = value[:MAX_TEXT]
    return value.lower() if lower else value


def _int(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise BadReport(f"report's {name} is not a number") from None
    if not low <= number <= high:
        raise BadReport(f"report's {name} is out of range")
    return number


def _domain(value: str, name: str) -> str:
    domain = value.strip().rstrip(".").lower()
    if not _DOMAIN.match(domain) or len(domain) > 253:
        raise BadReport(f"report's {name} is not a domain name")
    return domain


def _word(value: str, allowed: Sequence[str], default: str) -> str:
    value = value.strip().lower()
    return value if value in allowed else default


_RESULTS = ("none", "pass", "fail", "softfail", "neutral", "temperror", "permerror", "policy")


def _record(elem: Any) -> RecordRow:
    row = _child(elem, "row")
    if row is None:
        raise BadReport("record without row")
    try:
        source = str(ipaddress.ip_address(_text(row, "source_ip", required=True)))
    except ValueError:
        raise BadReport("record's source_ip is not an IP address") from None
    count = _int(_text(row, "count", required=True), "count", 0, 1_000_000_000)
    evaluated = _child(row, "policy_evaluated")
    disposition = _word(_text(evaluated, "disposition"), ("none", "quarantine", "reject"), "none")
    dkim = _word(_text(evaluated, "dkim"), ("pass", "fail"), "fail")
    spf = _word(_text(evaluated, "spf"), ("pass", "fail"), "fail")
    header_from = _text(elem, "identifiers", "header_from", lower=True)
    auth: dict[str, list[list[str]]] = {"dkim": [], "spf": []}
    results = _child(elem, "auth_results")
    for item in results if results is not None else ():
        method = _local(item.tag)
        if method in auth and len(auth[method]) < MAX_AUTH:
            auth[method].append([_text(item, "domain", lower=True),
                                 _word(_text(item, "result"), _RESULTS, "none")])
    return RecordRow(source, count, disposition, dkim, spf, header_from, auth)


def parse(xml: bytes) -> Report:
    """The report in ``xml`` (RFC 7489 Appendix C), or BadReport.

    Records are read as the parser reaches them and cleared after, so a
    large report costs its rows, not its whole tree."""
    meta: ReportRow | None = None
    policy: dict[str, Any] = {}
    records: list[RecordRow] = []
    seen_root = False
    try:
        for event, elem in iterparse(io.BytesIO(xml), events=("start", "end"), forbid_dtd=True):
            name = _local(elem.tag)
            if event == "start":
                if not seen_root:
                    if name != "feedback":
                        raise BadReport("not a DMARC aggregate report (no feedback element)")
                    seen_root = True
                continue
            if name == "report_metadata":
                meta = ReportRow(
                    0, _text(elem, "org_name", required=True), _text(elem, "email"),
                    _text(elem, "report_id", required=True),
                    _int(_text(elem, "date_range", "begin", required=True), "begin", 0, 2**33),
                    _int(_text(elem, "date_range", "end", required=True), "end", 0, 2**33),
                    "", "", "", 100, "", "", 0, 0,
                )
                elem.clear()
            elif name == "policy_published":
                policy = {
                    "domain": _domain(_text(elem, "domain", required=True), "policy domain"),
                    "p": _word(_text(elem, "p"), ("none", "quarantine", "reject"), "none"),
                    "sp": _word(_text(elem, "sp"), ("none", "quarantine", "reject"), ""),
                    "pct": _int(_text(elem, "pct") or "100", "pct", 0, 100),
                    "adkim": _word(_text(elem, "adkim"), ("r", "s"), "r"),
                    "aspf": _word(_text(elem, "aspf"), ("r", "s"), "r"),
                }
                elem.clear()
            elif name == "record":
                if len(records) >= MAX_RECORDS:
                    raise BadReport(f"report has more than {MAX_RECORDS} records")
                records.append(_record(elem))
                elem.clear()
    except (ParseError, DefusedXmlException) as exc:
        raise BadReport(f"report is not safe, well-formed XML: {type(exc).__name__}: {exc}") from None
    if meta is None or not policy:
        raise BadReport("report without report_metadata or policy_published")
    if meta.date_end < meta.date_begin:
        raise BadReport("report's date range ends before it begins")
    return Report(ReportRow(0, meta.org_name, meta.org_email, meta.report_id, meta.date_begin, meta.date_end,
                            policy["domain"], policy["p"], policy["sp"], policy["pct"], policy["adkim"],
                            policy["aspf"], 0, len(records)), tuple(records))


def read(raw: bytes, structure: str) -> Report | None:
    """The report ``raw`` carries (``structure``: its MIME tree as JSON,
    :attr:`storage.mail.Parsed.structure`), None when it carries none, or
    BadReport. CPU work: call it in a worker thread."""
    data = attachment(raw, json.loads(structure))
    if data is None:
        return None
    return parse(unpack(data))


# -- the owner's summary --------------------------------------------------------------


@dataclass
class Source:
    """One server that sent mail as a domain, over a period."""

    ip: str
    messages: int = 0
    passed: int = 0
    dkim_pass: int = 0
    spf_pass: int = 0
    dispositions: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return self.messages - self.passed


@dataclass
class DomainSummary:
    """What the reports of one domain say over a period."""

    domain: str
    messages: int = 0
    passed: int = 0
    sources: list[Source] = field(default_factory=list)
    reporters: dict[str, int] = field(default_factory=dict)

    @property
    def percent_passed(self) -> int:
        """Share of messages that passed DMARC, rounded down (100 only when all did)."""
        return 100 * self.passed // self.messages if self.messages else 0

    @property
    def failing_sources(self) -> list[Source]:
        return [s for s in self.sources if s.failed]


def summarise(totals: Iterable[SourceTotal], reports: Iterable[ReportRow]) -> list[DomainSummary]:
    """Per domain (by name): messages, those that passed DMARC (DKIM or SPF
    aligned and passing, as the receiver evaluated them), the sources with
    failing ones first (most failures first, then most messages), and who
    reported (org name -> reports)."""
    domains: dict[str, DomainSummary] = {}
    sources: dict[tuple[str, str], Source] = {}
    for t in totals:
        summary = domains.setdefault(t.domain, DomainSummary(t.domain))
        source = sources.get((t.domain, t.source_ip))
        if source is None:
            source = sources[(t.domain, t.source_ip)] = Source(t.source_ip)
            summary.sources.append(source)
        passed = t.dkim == "pass" or t.spf == "pass"
        source.messages += t.count
        source.passed += t.count if passed else 0
        source.dkim_pass += t.count if t.dkim == "pass" else 0
        source.spf_pass += t.count if t.spf == "pass" else 0
        source.dispositions[t.disposition] = source.dispositions.get(t.disposition, 0) + t.count
        summary.messages += t.count
        summary.passed += t.count if passed else 0
    for r in reports:
        summary = domains.setdefault(r.domain, DomainSummary(r.domain))
        summary.reporters[r.org_name] = summary.reporters.get(r.org_name, 0) + 1
    for summary in domains.values():
        summary.sources.sort(key=lambda s: (-s.failed, -s.messages, s.ip))
    return [domains[name] for name in sorted(domains)]
