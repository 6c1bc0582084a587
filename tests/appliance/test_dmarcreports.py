"""DMARC aggregate reports read from real report files (RFC 7489 Appendix C,
as Google, Microsoft and Yahoo send them: zip, gzip, plain XML) and kept
in a real business file: one report stored once, limits kept, and
anything unsafe or malformed refused with BadReport."""

from __future__ import annotations

import gzip
import time
import zipfile
from email.message import EmailMessage
from io import BytesIO
from pathlib import Path

import pytest

from appliance import dmarcreports, mime
from storage import dmarcreports as dmarcdb
from tests.storage.bakery import business_file

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dmarc"
GOOGLE = FIXTURES / "google.com!reportco.example!1764979200!1765065599.zip"
MICROSOFT = FIXTURES / "enterprise.protection.outlook.com!reportco.example!1764979200!1765065600.xml.gz"
YAHOO = FIXTURES / "yahoo.com!reportco.example!1764979200!1765065599.xml"


def message(path: Path, ctype: str, name: str | None = None) -> bytes:
    """A report message as receivers send it: a short text and the report attached."""
    msg = EmailMessage()
    msg["From"], msg["To"] = "noreply-dmarc-support@google.com", "postmaster@reportco.example"
    msg["Subject"] = f"Report domain: reportco.example Submitter: google.com Report-ID: <{path.name}>"
    msg.set_content("This is an aggregate report from google.com.\n")
    maintype, subtype = ctype.split("/")
    msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=name or path.name)
    return msg.as_bytes()


def read(raw: bytes) -> dmarcreports.Report | None:
    return dmarcreports.read(raw, mime.for_storage(raw).structure)


def test_zip_gzip_and_plain_reports_are_read_whole():
    """Each sender's file gives its org, id, period, policy and records."""
    google = read(message(GOOGLE, "application/zip"))
    assert google is not None
    assert (google.meta.org_name, google.meta.org_email, google.meta.report_id) == (
        "google.com", "noreply-dmarc-support@google.com", "4187602815532948131")
    assert (google.meta.date_begin, google.meta.date_end, google.meta.domain) == (1764979200, 1765065599,
                                                                                  "reportco.example")
    assert (google.meta.p, google.meta.sp, google.meta.pct, google.meta.adkim, google.meta.aspf) == (
        "quarantine", "quarantine", 100, "r", "r")
    first, second = google.records
    assert (first.source_ip, first.count, first.disposition, first.dkim, first.spf) == (
        "192.0.2.10", 40, "none", "pass", "pass")
    assert first.auth == {"dkim": [["reportco.example", "pass"]], "spf": [["reportco.example", "pass"]]}
    assert (second.source_ip, second.count, second.disposition, second.dkim, second.spf) == (
        "203.0.113.66", 3, "quarantine", "fail", "fail")
    assert second.auth == {"dkim": [], "spf": [["cheap-bulk-mailer.example", "softfail"]]}

    microsoft = read(message(MICROSOFT, "application/gzip"))
    assert microsoft is not None and microsoft.meta.org_name == "Enterprise Outlook"
    assert [(r.source_ip, r.count) for r in microsoft.records] == [("192.0.2.10", 25), ("198.51.100.7", 2)]
    # A namespaced document (DMARCbis), sent as octet-stream with its name.
    yahoo = read(message(YAHOO, "application/octet-stream"))
    assert yahoo is not None and yahoo.meta.org_name == "Yahoo" and yahoo.meta.sp == ""
    assert [(r.source_ip, r.count) for r in yahoo.records] == [("192.0.2.10", 5)]


def test_a_message_without_a_report_reads_none():
    """A plain message, or one with a picture attached, has no report."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@b.example", "postmaster@reportco.example", "Hello"
    msg.set_content("Hi.\n")
    assert read(msg.as_bytes()) is None
    msg.add_attachment(b"\x89PNG\r\n", maintype="image", subtype="png", filename="a.png")
    assert read(msg.as_bytes()) is None


@pytest.mark.parametrize("name, ctype, reason", [
    ("billion-laughs.xml", "text/xml", "not safe, well-formed XML"),
    ("truncated.xml", "application/xml", "not safe, well-formed XML"),
    ("oversized.xml.gz", "application/gzip", "larger than the limit"),
])
def test_unsafe_or_malformed_reports_are_refused(name, ctype, reason):
    """An entity bomb, a cut-off document and a gzip bomb raise BadReport
    (promptly: nothing is expanded)."""
    started = time.monotonic()
    with pytest.raises(dmarcreports.BadReport, match=reason):
        read(message(FIXTURES / name, ctype))
    assert time.monotonic() - started < 5


def test_a_zip_bomb_and_too_many_records_are_refused():
    """A zip whose .xml member inflates past the limit, and a report with
    more records than the limit, are refused."""
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.xml", b"<feedback>" + b" " * (dmarcreports.MAX_XML + 10) + b"</feedback>")
    with pytest.raises(dmarcreports.BadReport, match="larger than the limit"):
        dmarcreports.unpack(buffer.getvalue())
    xml = gzip.decompress(MICROSOFT.read_bytes())
    head, _, rest = xml.partition(b"<record>")
    record, _, tail = rest.partition(b"</record>")
    many = head + (b"<record>" + record + b"</record>") * (dmarcreports.MAX_RECORDS + 1) + tail
    with pytest.raises(dmarcreports.BadReport, match="more than"):
        dmarcreports.parse(many)


def test_a_report_is_stored_once_and_summed_up(tmp_path):
    """The same report twice is kept once; the summary counts each
    domain's messages, those that passed, and lists failing sources first;
    one report's totals count every record however few are listed."""
    reports = [read(message(p, t)) for p, t in ((GOOGLE, "application/zip"), (MICROSOFT, "application/gzip"),
                                              (YAHOO, "text/xml"))]
    with business_file(tmp_path) as db:
        ids = [db.write_sync("dmarc", lambda c, r=r: dmarcdb.store(c, r.meta, r.records)) for r in reports]
        assert all(ids)
        again = db.write_sync("dmarc", lambda c: dmarcdb.store(c, reports[0].meta, reports[0].records))
        assert again is None
        totals = db.read_sync("dmarc", lambda c: dmarcdb.totals_since(c, 0))
        kept = db.read_sync("dmarc", lambda c: dmarcdb.reports_since(c, 0))
        shown = db.read_sync("dmarc", lambda c: dmarcdb.report(c, ids[0]))
        first_only = db.read_sync("dmarc", lambda c: dmarcdb.report(c, ids[0], limit=1))
    [summary] = dmarcreports.summarise(totals, kept)
    assert (summary.domain, summary.messages, summary.passed, summary.percent_passed) == (
        "reportco.example", 75, 70, 93)
    assert [s.ip for s in summary.sources] == ["203.0.113.66", "198.51.100.7", "192.0.2.10"]
    assert summary.reporters == {"google.com": 1, "Enterprise Outlook": 1, "Yahoo": 1}
    assert [s.dispositions for s in summary.failing_sources] == [{"quarantine": 3}, {"quarantine": 2}]
    report, records = shown
    assert (report.messages, report.passed) == (43, 40) and [r.count for r in records] == [40, 3]
    # Fewer records shown: the report's totals still count them all.
    assert first_only[0] == report and [r.count for r in first_only[1]] == [40]


def test_old_reports_and_reports_past_the_caps_are_dropped(tmp_path, monkeypatch):
    """A report received more than KEEP_DAYS ago goes when another arrives;
    past MAX_REPORTS the oldest goes."""
    google = read(message(GOOGLE, "application/zip"))
    monkeypatch.setattr(dmarcdb, "MAX_REPORTS", 3)
    now = time.time()
    with business_file(tmp_path) as db:
        def add(report_id: str, at: float) -> None:
            meta = google.meta.__class__(**{**google.meta.__dict__, "report_id": report_id})
            db.write_sync("dmarc", lambda c: dmarcdb.store(c, meta, google.records, clock=at))

        add("old", now - (dmarcdb.KEEP_DAYS + 1) * 86400)
        for n in range(4):
            add(f"new-{n}", now - 10 + n)
        kept = db.read_sync("dmarc", lambda c: [r.report_id for r in dmarcdb.reports_since(c, 0)])
        left = db.read_sync("dmarc", lambda c: c.execute("SELECT count(*) FROM dmarc_records").fetchone()[0])
    assert kept == ["new-3", "new-2", "new-1"]
    assert left == 3 * len(google.records)
